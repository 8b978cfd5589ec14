package studystore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/c-bata/goptuna"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultTimeout bounds each Storage call when Storage.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Errors of this storage that goptuna has no sentinel for.
var (
	// ErrStudyNotFound: no study has that name.
	ErrStudyNotFound = errors.New("study not found")
	// ErrStudyExists: a study with that name exists already.
	ErrStudyExists = errors.New("study name already exists")
	// ErrStepExists: the trial has an intermediate value at that step.
	ErrStepExists = errors.New("intermediate value already set for step")
	// ErrParamNotFound: the trial has no parameter of that name.
	ErrParamNotFound = errors.New("param does not exist")
)

// Storage is a goptuna.Storage kept in PostgreSQL. It is safe for
// concurrent use by several goroutines and several processes, except while
// Atomically runs (see there).
type Storage struct {
	pool *pgxpool.Pool
	// tx is the transaction of a running Atomically, which every call
	// joins; nil otherwise.
	tx       atomic.Pointer[pgx.Tx]
	atomicMu sync.Mutex // serialises Atomically

	// Timeout bounds each call (goptuna.Storage passes no context).
	// Defaults to DefaultTimeout. Set it before the Storage is used.
	Timeout time.Duration

	// mu guards dists, the decoded distributions by their JSON text.
	mu    sync.Mutex
	dists map[string]interface{}
}

var _ goptuna.Storage = (*Storage)(nil)

// maxCachedDists bounds the distribution cache; it is emptied when full.
const maxCachedDists = 4096

// New returns a Storage over pool (the coordinator's store.Store.Pool),
// whose schema must be migrated.
func New(pool *pgxpool.Pool) *Storage {
	return &Storage{pool: pool, Timeout: DefaultTimeout, dists: map[string]interface{}{}}
}

// querier is what a call runs on: the pool, or Atomically's transaction.
type querier interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Storage) conn() querier {
	if tx := s.tx.Load(); tx != nil {
		return *tx
	}
	return s.pool
}

// snapshot runs fn in a read-only repeatable-read transaction (in a
// savepoint of Atomically's transaction while that runs).
func (s *Storage) snapshot(ctx context.Context, fn func(pgx.Tx) error) error {
	if tx := s.tx.Load(); tx != nil {
		return pgx.BeginFunc(ctx, *tx, fn)
	}
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// Atomically runs fn in one transaction: the calls fn makes on s (its
// goptuna.Storage methods, for example through an optimizer's Tell) join
// it, and so does what fn writes through tx. Both commit when fn returns
// nil and roll back together otherwise, so the optimizer's record of a
// trial and the coordinator's never disagree. While fn runs every call on s
// joins the transaction, whichever goroutine makes it: s must not be shared
// then (each search driver has a Storage of its own).
func (s *Storage) Atomically(ctx context.Context, fn func(tx pgx.Tx) error) error {
	s.atomicMu.Lock()
	defer s.atomicMu.Unlock()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		s.tx.Store(&tx)
		defer s.tx.Store(nil)
		return fn(tx)
	})
}

func (s *Storage) ctx() (context.Context, context.CancelFunc) {
	d := s.Timeout
	if d <= 0 {
		d = DefaultTimeout
	}
	return context.WithTimeout(context.Background(), d)
}

// Trial states as stored in study_trials.state.
const (
	stateRunning  = "running"
	stateComplete = "complete"
	statePruned   = "pruned"
	stateFail     = "fail"
	stateWaiting  = "waiting"
)

func stateText(st goptuna.TrialState) (string, error) {
	switch st {
	case goptuna.TrialStateRunning:
		return stateRunning, nil
	case goptuna.TrialStateComplete:
		return stateComplete, nil
	case goptuna.TrialStatePruned:
		return statePruned, nil
	case goptuna.TrialStateFail:
		return stateFail, nil
	case goptuna.TrialStateWaiting:
		return stateWaiting, nil
	}
	return "", fmt.Errorf("trial state: unknown value %d", int(st))
}

func parseState(s string) (goptuna.TrialState, error) {
	switch s {
	case stateRunning:
		return goptuna.TrialStateRunning, nil
	case stateComplete:
		return goptuna.TrialStateComplete, nil
	case statePruned:
		return goptuna.TrialStatePruned, nil
	case stateFail:
		return goptuna.TrialStateFail, nil
	case stateWaiting:
		return goptuna.TrialStateWaiting, nil
	}
	return 0, fmt.Errorf("trial state: unknown stored value %q", s)
}

func isForeignKeyViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23503"
}

// newStudyName returns goptuna's default name for an unnamed study: the
// prefix and a random (version 4) UUID.
func newStudyName() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%s%x-%x-%x-%x-%x", goptuna.DefaultStudyNamePrefix, b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// ---- studies ----

// CreateNewStudy creates a study and returns its ID. An empty name gets
// goptuna's default prefix and a random UUID; a taken name gives
// ErrStudyExists. The direction starts as minimize.
func (s *Storage) CreateNewStudy(name string) (int, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	if name == "" {
		n, err := newStudyName()
		if err != nil {
			return -1, fmt.Errorf("create study: name: %w", err)
		}
		name = n
	}
	var id int
	err := s.conn().QueryRow(ctx,
		`INSERT INTO studies (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return -1, fmt.Errorf("create study %q: %w", name, ErrStudyExists)
	}
	if err != nil {
		return -1, fmt.Errorf("create study %q: %w", name, err)
	}
	return id, nil
}

// DeleteStudy deletes a study with all its trials.
func (s *Storage) DeleteStudy(studyID int) error {
	ctx, cancel := s.ctx()
	defer cancel()
	tag, err := s.conn().Exec(ctx, `DELETE FROM studies WHERE id = $1`, studyID)
	if err != nil {
		return fmt.Errorf("delete study %d: %w", studyID, err)
	}
	if tag.RowsAffected() == 0 {
		return goptuna.ErrInvalidStudyID
	}
	return nil
}

// SetStudyDirection sets the direction of the study's objective.
func (s *Storage) SetStudyDirection(studyID int, direction goptuna.StudyDirection) error {
	if direction != goptuna.StudyDirectionMinimize && direction != goptuna.StudyDirectionMaximize {
		return fmt.Errorf("set study %d direction: direction %q is neither %q nor %q",
			studyID, direction, goptuna.StudyDirectionMinimize, goptuna.StudyDirectionMaximize)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	tag, err := s.conn().Exec(ctx, `UPDATE studies SET direction = $2 WHERE id = $1`, studyID, string(direction))
	if err != nil {
		return fmt.Errorf("set study %d direction: %w", studyID, err)
	}
	if tag.RowsAffected() == 0 {
		return goptuna.ErrInvalidStudyID
	}
	return nil
}

// SetStudyUserAttr sets a user attribute of the study.
func (s *Storage) SetStudyUserAttr(studyID int, key string, value string) error {
	return s.setStudyAttr(studyID, "user", key, value)
}

// SetStudySystemAttr sets a system attribute of the study.
func (s *Storage) SetStudySystemAttr(studyID int, key string, value string) error {
	return s.setStudyAttr(studyID, "system", key, value)
}

func (s *Storage) setStudyAttr(studyID int, kind, key, value string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	_, err := s.conn().Exec(ctx,
		`INSERT INTO study_attrs (study_id, kind, key, value) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (study_id, kind, key) DO UPDATE SET value = EXCLUDED.value`,
		studyID, kind, key, value)
	if isForeignKeyViolation(err) {
		return goptuna.ErrInvalidStudyID
	}
	if err != nil {
		return fmt.Errorf("set study %d %s attr %q: %w", studyID, kind, key, err)
	}
	return nil
}

// GetStudyIDFromName returns the ID of the named study, or ErrStudyNotFound.
func (s *Storage) GetStudyIDFromName(name string) (int, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var id int
	err := s.conn().QueryRow(ctx, `SELECT id FROM studies WHERE name = $1`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return -1, fmt.Errorf("study %q: %w", name, ErrStudyNotFound)
	}
	if err != nil {
		return -1, fmt.Errorf("study %q: %w", name, err)
	}
	return id, nil
}

// GetStudyIDFromTrialID returns the ID of the trial's study.
func (s *Storage) GetStudyIDFromTrialID(trialID int) (int, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var id int
	err := s.conn().QueryRow(ctx, `SELECT study_id FROM study_trials WHERE id = $1`, trialID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return -1, goptuna.ErrInvalidTrialID
	}
	if err != nil {
		return -1, fmt.Errorf("study of trial %d: %w", trialID, err)
	}
	return id, nil
}

// GetStudyNameFromID returns the study's name.
func (s *Storage) GetStudyNameFromID(studyID int) (string, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var name string
	err := s.conn().QueryRow(ctx, `SELECT name FROM studies WHERE id = $1`, studyID).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", goptuna.ErrInvalidStudyID
	}
	if err != nil {
		return "", fmt.Errorf("study %d name: %w", studyID, err)
	}
	return name, nil
}

// GetStudyDirection returns the direction of the study's objective.
func (s *Storage) GetStudyDirection(studyID int) (goptuna.StudyDirection, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var d string
	err := s.conn().QueryRow(ctx, `SELECT direction FROM studies WHERE id = $1`, studyID).Scan(&d)
	if errors.Is(err, pgx.ErrNoRows) {
		return goptuna.StudyDirectionMinimize, goptuna.ErrInvalidStudyID
	}
	if err != nil {
		return goptuna.StudyDirectionMinimize, fmt.Errorf("study %d direction: %w", studyID, err)
	}
	return goptuna.StudyDirection(d), nil
}

// GetStudyUserAttrs returns the study's user attributes.
func (s *Storage) GetStudyUserAttrs(studyID int) (map[string]string, error) {
	return s.studyAttrs(studyID, "user")
}

// GetStudySystemAttrs returns the study's system attributes.
func (s *Storage) GetStudySystemAttrs(studyID int) (map[string]string, error) {
	return s.studyAttrs(studyID, "system")
}

func (s *Storage) studyAttrs(studyID int, kind string) (map[string]string, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var keys, vals []string
	err := s.conn().QueryRow(ctx,
		`SELECT a.keys, a.vals FROM studies s
		 CROSS JOIN LATERAL (SELECT array_agg(key ORDER BY key) AS keys, array_agg(value ORDER BY key) AS vals
		                     FROM study_attrs WHERE study_id = s.id AND kind = $2) a
		 WHERE s.id = $1`, studyID, kind).Scan(&keys, &vals)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, goptuna.ErrInvalidStudyID
	}
	if err != nil {
		return nil, fmt.Errorf("study %d %s attrs: %w", studyID, kind, err)
	}
	return pairs(keys, vals), nil
}

func pairs(keys, vals []string) map[string]string {
	m := make(map[string]string, len(keys))
	for i, k := range keys {
		m[k] = vals[i]
	}
	return m
}

// GetAllStudySummaries returns a summary of every study, in ID order. A
// study's start is its first trial's start (zero without trials); its best
// trial is zero without a complete trial.
func (s *Storage) GetAllStudySummaries() ([]goptuna.StudySummary, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var out []goptuna.StudySummary
	err := s.snapshot(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx,
			`SELECT s.id, s.name, s.direction,
			        (SELECT min(started_at) FROM study_trials WHERE study_id = s.id),
			        (SELECT b.id FROM study_trials b WHERE b.study_id = s.id AND b.state = 'complete'
			         ORDER BY CASE WHEN s.direction = 'maximize' THEN -b.value ELSE b.value END, b.number LIMIT 1),
			        ua.keys, ua.vals, sa.keys, sa.vals
			 FROM studies s
			 CROSS JOIN LATERAL (SELECT array_agg(key ORDER BY key) AS keys, array_agg(value ORDER BY key) AS vals
			                     FROM study_attrs WHERE study_id = s.id AND kind = 'user') ua
			 CROSS JOIN LATERAL (SELECT array_agg(key ORDER BY key) AS keys, array_agg(value ORDER BY key) AS vals
			                     FROM study_attrs WHERE study_id = s.id AND kind = 'system') sa
			 ORDER BY s.id`)
		if err != nil {
			return err
		}
		var best []int
		bestOf := map[int]int{} // best trial ID -> index in out
		for rows.Next() {
			var (
				sum            goptuna.StudySummary
				dir            string
				start          *time.Time
				bestID         *int
				uk, uv, sk, sv []string
			)
			if err := rows.Scan(&sum.ID, &sum.Name, &dir, &start, &bestID, &uk, &uv, &sk, &sv); err != nil {
				rows.Close()
				return err
			}
			sum.Direction = goptuna.StudyDirection(dir)
			if start != nil {
				sum.DatetimeStart = *start
			}
			sum.UserAttrs, sum.SystemAttrs = pairs(uk, uv), pairs(sk, sv)
			if bestID != nil {
				best = append(best, *bestID)
				bestOf[*bestID] = len(out)
			}
			out = append(out, sum)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(best) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, selectTrials+` WHERE t.id = ANY($1)`, best)
		if err != nil {
			return err
		}
		trials, err := s.scanTrials(rows)
		if err != nil {
			return err
		}
		for _, t := range trials {
			out[bestOf[t.ID]].BestTrial = t
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("study summaries: %w", err)
	}
	if out == nil {
		out = []goptuna.StudySummary{}
	}
	return out, nil
}

func (s *Storage) studyExists(ctx context.Context, studyID int) (bool, error) {
	var ok bool
	err := s.conn().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM studies WHERE id = $1)`, studyID).Scan(&ok)
	return ok, err
}

// lockStudy locks the study's row for the transaction, so that trial
// numbers are assigned one creator at a time. FOR NO KEY UPDATE serialises
// creators exactly like FOR UPDATE but does not block the foreign-key
// checks of concurrent attribute writes.
func lockStudy(ctx context.Context, tx pgx.Tx, studyID int) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM studies WHERE id = $1 FOR NO KEY UPDATE`, studyID).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return goptuna.ErrInvalidStudyID
	}
	return err
}

// ---- trials: writes ----

// nextNumber is the next trial number of study $1. The INSERT using it must
// run after lockStudy in the same transaction, in its own statement, so
// that its snapshot sees the trials committed while lockStudy waited.
const nextNumber = `(SELECT coalesce(max(number) + 1, 0) FROM study_trials WHERE study_id = $1)`

// CreateNewTrial creates a running trial with the study's next number and
// returns its ID.
func (s *Storage) CreateNewTrial(studyID int) (int, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var id int
	err := pgx.BeginFunc(ctx, s.conn(), func(tx pgx.Tx) error {
		if err := lockStudy(ctx, tx, studyID); err != nil {
			return err
		}
		return tx.QueryRow(ctx,
			`INSERT INTO study_trials (study_id, number, state) VALUES ($1, `+nextNumber+`, 'running') RETURNING id`,
			studyID).Scan(&id)
	})
	if errors.Is(err, goptuna.ErrInvalidStudyID) {
		return -1, goptuna.ErrInvalidStudyID
	}
	if err != nil {
		return -1, fmt.Errorf("create trial in study %d: %w", studyID, err)
	}
	return id, nil
}

// CloneTrial creates a trial with the study's next number and everything
// else copied from base: state, value, times, parameters, attributes and
// intermediate values. A finished base without a completion time gets the
// current time.
func (s *Storage) CloneTrial(studyID int, base goptuna.FrozenTrial) (int, error) {
	state, err := stateText(base.State)
	if err != nil {
		return -1, fmt.Errorf("clone trial: %w", err)
	}
	type param struct {
		name string
		v    float64
		d    []byte
	}
	params := make([]param, 0, len(base.InternalParams))
	for name, v := range base.InternalParams {
		d, ok := base.Distributions[name]
		if !ok {
			return -1, fmt.Errorf("clone trial: param %q has no distribution", name)
		}
		raw, err := distributionJSON(name, d, v)
		if err != nil {
			return -1, fmt.Errorf("clone trial: %w", err)
		}
		params = append(params, param{name, v, raw})
	}
	var start, complete *time.Time
	if !base.DatetimeStart.IsZero() {
		start = &base.DatetimeStart
	}
	if !base.DatetimeComplete.IsZero() {
		complete = &base.DatetimeComplete
	}
	ctx, cancel := s.ctx()
	defer cancel()
	var id int
	err = pgx.BeginFunc(ctx, s.conn(), func(tx pgx.Tx) error {
		if err := lockStudy(ctx, tx, studyID); err != nil {
			return err
		}
		err := tx.QueryRow(ctx,
			`INSERT INTO study_trials (study_id, number, state, value, started_at, completed_at)
			 VALUES ($1, `+nextNumber+`, $2, $3, coalesce($4::timestamptz, now()),
			         CASE WHEN $2 IN ('running', 'waiting') THEN $5::timestamptz ELSE coalesce($5::timestamptz, now()) END)
			 RETURNING id`,
			studyID, state, base.Value, start, complete).Scan(&id)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		for _, p := range params {
			b.Queue(`INSERT INTO study_trial_params (trial_id, name, value_internal, distribution) VALUES ($1, $2, $3, $4)`,
				id, p.name, p.v, string(p.d))
		}
		for k, v := range base.UserAttrs {
			b.Queue(`INSERT INTO study_trial_attrs (trial_id, kind, key, value) VALUES ($1, 'user', $2, $3)`, id, k, v)
		}
		for k, v := range base.SystemAttrs {
			b.Queue(`INSERT INTO study_trial_attrs (trial_id, kind, key, value) VALUES ($1, 'system', $2, $3)`, id, k, v)
		}
		for step, v := range base.IntermediateValues {
			b.Queue(`INSERT INTO study_trial_intermediate (trial_id, step, value) VALUES ($1, $2, $3)`, id, step, v)
		}
		if b.Len() == 0 {
			return nil
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if errors.Is(err, goptuna.ErrInvalidStudyID) {
		return -1, goptuna.ErrInvalidStudyID
	}
	if err != nil {
		return -1, fmt.Errorf("clone trial into study %d: %w", studyID, err)
	}
	return id, nil
}

// refusal explains why a guarded write to a trial changed nothing: the
// trial does not exist (goptuna.ErrInvalidTrialID) or is finished
// (goptuna.ErrTrialCannotBeUpdated). It returns nil when the trial is
// still updatable.
func (s *Storage) refusal(ctx context.Context, trialID int) error {
	var st string
	err := s.conn().QueryRow(ctx, `SELECT state FROM study_trials WHERE id = $1`, trialID).Scan(&st)
	if errors.Is(err, pgx.ErrNoRows) {
		return goptuna.ErrInvalidTrialID
	}
	if err != nil {
		return fmt.Errorf("trial %d: %w", trialID, err)
	}
	if st != stateRunning && st != stateWaiting {
		return goptuna.ErrTrialCannotBeUpdated
	}
	return nil
}

// updatable selects a trial's ID when it is not finished, sharing a lock
// on its row so that it cannot finish before the write commits.
const updatable = `FROM study_trials WHERE id = $1 AND state IN ('running', 'waiting') FOR SHARE`

// SetTrialValue sets the trial's objective value.
func (s *Storage) SetTrialValue(trialID int, value float64) error {
	ctx, cancel := s.ctx()
	defer cancel()
	tag, err := s.conn().Exec(ctx,
		`UPDATE study_trials SET value = $2 WHERE id = $1 AND state IN ('running', 'waiting')`, trialID, value)
	if err != nil {
		return fmt.Errorf("set trial %d value: %w", trialID, err)
	}
	if tag.RowsAffected() == 0 {
		if err := s.refusal(ctx, trialID); err != nil {
			return err
		}
		return fmt.Errorf("set trial %d value: trial changed concurrently", trialID)
	}
	return nil
}

// SetTrialIntermediateValue records the trial's value at a step; a step
// that has a value already gives ErrStepExists.
func (s *Storage) SetTrialIntermediateValue(trialID int, step int, value float64) error {
	ctx, cancel := s.ctx()
	defer cancel()
	tag, err := s.conn().Exec(ctx,
		`INSERT INTO study_trial_intermediate (trial_id, step, value) SELECT id, $2, $3 `+updatable+`
		 ON CONFLICT (trial_id, step) DO NOTHING`, trialID, step, value)
	if err != nil {
		return fmt.Errorf("set trial %d intermediate value: %w", trialID, err)
	}
	if tag.RowsAffected() == 0 {
		if err := s.refusal(ctx, trialID); err != nil {
			return err
		}
		return fmt.Errorf("trial %d step %d: %w", trialID, step, ErrStepExists)
	}
	return nil
}

// distributionJSON checks that v is representable in d and encodes d.
func distributionJSON(name string, d interface{}, v float64) ([]byte, error) {
	raw, err := goptuna.DistributionToJSON(d)
	if err != nil {
		return nil, fmt.Errorf("param %q: distribution %T: %w", name, d, err)
	}
	if _, err := external(d, v); err != nil {
		return nil, fmt.Errorf("param %q: %w", name, err)
	}
	return raw, nil
}

// external is goptuna.ToExternalRepresentation without its panic on a
// categorical index out of range.
func external(d interface{}, v float64) (interface{}, error) {
	if c, ok := d.(goptuna.CategoricalDistribution); ok {
		if !(v >= 0 && v < float64(len(c.Choices))) {
			return nil, fmt.Errorf("categorical index %g outside its %d choices", v, len(c.Choices))
		}
	}
	return goptuna.ToExternalRepresentation(d, v)
}

// SetTrialParam sets (or replaces) a parameter of the trial: its internal
// value and its distribution.
func (s *Storage) SetTrialParam(trialID int, paramName string, paramValueInternal float64, distribution interface{}) error {
	raw, err := distributionJSON(paramName, distribution, paramValueInternal)
	if err != nil {
		return fmt.Errorf("set trial %d param: %w", trialID, err)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	tag, err := s.conn().Exec(ctx,
		`INSERT INTO study_trial_params (trial_id, name, value_internal, distribution) SELECT id, $2, $3, $4 `+updatable+`
		 ON CONFLICT (trial_id, name) DO UPDATE SET value_internal = EXCLUDED.value_internal, distribution = EXCLUDED.distribution`,
		trialID, paramName, paramValueInternal, string(raw))
	if err != nil {
		return fmt.Errorf("set trial %d param %q: %w", trialID, paramName, err)
	}
	if tag.RowsAffected() == 0 {
		if err := s.refusal(ctx, trialID); err != nil {
			return err
		}
		return fmt.Errorf("set trial %d param %q: trial changed concurrently", trialID, paramName)
	}
	return nil
}

// SetTrialState moves a running or waiting trial to another state; a
// finished state records the completion time. A finished trial, or a move
// to the trial's current state, gives goptuna.ErrTrialCannotBeUpdated.
func (s *Storage) SetTrialState(trialID int, state goptuna.TrialState) error {
	st, err := stateText(state)
	if err != nil {
		return fmt.Errorf("set trial %d state: %w", trialID, err)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	tag, err := s.conn().Exec(ctx,
		`UPDATE study_trials
		 SET state = $2, completed_at = CASE WHEN $3::bool THEN now() ELSE completed_at END
		 WHERE id = $1 AND state IN ('running', 'waiting') AND state <> $2`,
		trialID, st, state.IsFinished())
	if err != nil {
		return fmt.Errorf("set trial %d state: %w", trialID, err)
	}
	if tag.RowsAffected() == 0 {
		if err := s.refusal(ctx, trialID); err != nil {
			return err
		}
		return goptuna.ErrTrialCannotBeUpdated // already in that state
	}
	return nil
}

// SetTrialUserAttr sets a user attribute of the trial.
func (s *Storage) SetTrialUserAttr(trialID int, key string, value string) error {
	return s.setTrialAttr(trialID, "user", key, value)
}

// SetTrialSystemAttr sets a system attribute of the trial.
func (s *Storage) SetTrialSystemAttr(trialID int, key string, value string) error {
	return s.setTrialAttr(trialID, "system", key, value)
}

func (s *Storage) setTrialAttr(trialID int, kind, key, value string) error {
	ctx, cancel := s.ctx()
	defer cancel()
	tag, err := s.conn().Exec(ctx,
		`INSERT INTO study_trial_attrs (trial_id, kind, key, value) SELECT id, $2, $3, $4 `+updatable+`
		 ON CONFLICT (trial_id, kind, key) DO UPDATE SET value = EXCLUDED.value`,
		trialID, kind, key, value)
	if err != nil {
		return fmt.Errorf("set trial %d %s attr %q: %w", trialID, kind, key, err)
	}
	if tag.RowsAffected() == 0 {
		if err := s.refusal(ctx, trialID); err != nil {
			return err
		}
		return fmt.Errorf("set trial %d %s attr %q: trial changed concurrently", trialID, kind, key)
	}
	return nil
}

// ReviseTrial sets a complete trial's value and adds or replaces the given
// system attributes (the others are kept), in one transaction: the one
// write this storage accepts to a finished trial (search.Reviser, for an
// outcome re-measured after the trial completed; goptuna's setters keep
// refusing finished trials). A trial that is not complete gives
// goptuna.ErrTrialCannotBeUpdated, an unknown one
// goptuna.ErrInvalidTrialID; on any error nothing is written. The trial's
// row is locked for the transaction, so the check and the writes see the
// same trial.
func (s *Storage) ReviseTrial(trialID int, value float64, systemAttrs map[string]string) error {
	keys := slices.Sorted(maps.Keys(systemAttrs))
	vals := make([]string, len(keys))
	for i, k := range keys {
		vals[i] = systemAttrs[k]
	}
	ctx, cancel := s.ctx()
	defer cancel()
	err := pgx.BeginFunc(ctx, s.conn(), func(tx pgx.Tx) error {
		var st string
		err := tx.QueryRow(ctx, `SELECT state FROM study_trials WHERE id = $1 FOR NO KEY UPDATE`, trialID).Scan(&st)
		if errors.Is(err, pgx.ErrNoRows) {
			return goptuna.ErrInvalidTrialID
		}
		if err != nil {
			return err
		}
		if st != stateComplete {
			return goptuna.ErrTrialCannotBeUpdated
		}
		if _, err := tx.Exec(ctx, `UPDATE study_trials SET value = $2 WHERE id = $1`, trialID, value); err != nil {
			return err
		}
		_, err = tx.Exec(ctx,
			`INSERT INTO study_trial_attrs (trial_id, kind, key, value)
			 SELECT $1, 'system', k, v FROM unnest($2::text[], $3::text[]) AS a(k, v)
			 ON CONFLICT (trial_id, kind, key) DO UPDATE SET value = EXCLUDED.value`,
			trialID, keys, vals)
		return err
	})
	switch {
	case errors.Is(err, goptuna.ErrInvalidTrialID):
		return goptuna.ErrInvalidTrialID
	case errors.Is(err, goptuna.ErrTrialCannotBeUpdated):
		return goptuna.ErrTrialCannotBeUpdated
	case err != nil:
		return fmt.Errorf("revise trial %d: %w", trialID, err)
	}
	return nil
}

// ---- trials: reads ----

// selectTrials reads whole trials in one query: each trial row carries its
// parameters, attributes and intermediate values as arrays. Lateral
// subqueries keep the cost proportional to the selected trials (a grouped
// join made the planner scan every study's parameters). The arrays of one
// subquery are aligned: its aggregates consume the same rows in the same
// order. Callers append a WHERE clause on t.
const selectTrials = `SELECT t.id, t.study_id, t.number, t.state, t.value, t.started_at, t.completed_at,
       p.names, p.vals, p.dists, a.system, a.keys, a.vals, iv.steps, iv.vals
FROM study_trials t
CROSS JOIN LATERAL (SELECT array_agg(name) AS names, array_agg(value_internal) AS vals,
                           array_agg(distribution::text) AS dists
                    FROM study_trial_params WHERE trial_id = t.id) p
CROSS JOIN LATERAL (SELECT array_agg(kind = 'system') AS system, array_agg(key) AS keys, array_agg(value) AS vals
                    FROM study_trial_attrs WHERE trial_id = t.id) a
CROSS JOIN LATERAL (SELECT array_agg(step) AS steps, array_agg(value) AS vals
                    FROM study_trial_intermediate WHERE trial_id = t.id) iv`

// scanTrials decodes the rows of a selectTrials query and closes them.
func (s *Storage) scanTrials(rows pgx.Rows) ([]goptuna.FrozenTrial, error) {
	defer rows.Close()
	out := []goptuna.FrozenTrial{}
	local := map[string]interface{}{} // distributions seen in this answer
	var (
		state          string
		completed      *time.Time
		pNames, pDists []string
		pVals          []float64
		system         []bool
		aKeys, aVals   []string
		ivSteps        []int32
		ivVals         []float64
	)
	for rows.Next() {
		var t goptuna.FrozenTrial
		if err := rows.Scan(&t.ID, &t.StudyID, &t.Number, &state, &t.Value, &t.DatetimeStart, &completed,
			&pNames, &pVals, &pDists, &system, &aKeys, &aVals, &ivSteps, &ivVals); err != nil {
			return nil, err
		}
		if len(pVals) != len(pNames) || len(pDists) != len(pNames) || len(aKeys) != len(system) ||
			len(aVals) != len(system) || len(ivVals) != len(ivSteps) {
			return nil, fmt.Errorf("trial %d: misaligned arrays in the database's answer", t.ID)
		}
		st, err := parseState(state)
		if err != nil {
			return nil, fmt.Errorf("trial %d: %w", t.ID, err)
		}
		t.State = st
		if completed != nil {
			t.DatetimeComplete = *completed
		}
		t.InternalParams = make(map[string]float64, len(pNames))
		t.Params = make(map[string]interface{}, len(pNames))
		t.Distributions = make(map[string]interface{}, len(pNames))
		for i, name := range pNames {
			d, ok := local[pDists[i]]
			if !ok {
				if d, err = s.distribution(pDists[i]); err != nil {
					return nil, fmt.Errorf("trial %d param %q: %w", t.ID, name, err)
				}
				local[pDists[i]] = d
			}
			x, err := external(d, pVals[i])
			if err != nil {
				return nil, fmt.Errorf("trial %d param %q: %w", t.ID, name, err)
			}
			t.InternalParams[name] = pVals[i]
			t.Params[name] = x
			t.Distributions[name] = d
		}
		t.UserAttrs, t.SystemAttrs = map[string]string{}, map[string]string{}
		for i, sys := range system {
			if sys {
				t.SystemAttrs[aKeys[i]] = aVals[i]
			} else {
				t.UserAttrs[aKeys[i]] = aVals[i]
			}
		}
		t.IntermediateValues = make(map[int]float64, len(ivSteps))
		for i, step := range ivSteps {
			t.IntermediateValues[int(step)] = ivVals[i]
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// distribution decodes a stored distribution, through the cache. Decoded
// distributions are shared between the trials returned, as
// InMemoryStorage shares the caller's: treat them as read-only.
func (s *Storage) distribution(raw string) (interface{}, error) {
	s.mu.Lock()
	d, ok := s.dists[raw]
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	d, err := goptuna.JSONToDistribution([]byte(raw))
	if err != nil {
		return nil, fmt.Errorf("distribution %s: %w", raw, err)
	}
	s.mu.Lock()
	if len(s.dists) >= maxCachedDists {
		clear(s.dists)
	}
	s.dists[raw] = d
	s.mu.Unlock()
	return d, nil
}

func (s *Storage) queryTrials(ctx context.Context, where string, args ...any) ([]goptuna.FrozenTrial, error) {
	rows, err := s.conn().Query(ctx, selectTrials+" "+where, args...)
	if err != nil {
		return nil, err
	}
	return s.scanTrials(rows)
}

// GetTrial returns the whole trial.
func (s *Storage) GetTrial(trialID int) (goptuna.FrozenTrial, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	ts, err := s.queryTrials(ctx, `WHERE t.id = $1`, trialID)
	if err != nil {
		return goptuna.FrozenTrial{}, fmt.Errorf("get trial %d: %w", trialID, err)
	}
	if len(ts) == 0 {
		return goptuna.FrozenTrial{}, goptuna.ErrInvalidTrialID
	}
	return ts[0], nil
}

// GetAllTrials returns every trial of the study in number order, in one
// round trip.
func (s *Storage) GetAllTrials(studyID int) ([]goptuna.FrozenTrial, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	ts, err := s.queryTrials(ctx, `WHERE t.study_id = $1 ORDER BY t.number`, studyID)
	if err != nil {
		return nil, fmt.Errorf("trials of study %d: %w", studyID, err)
	}
	if len(ts) == 0 {
		ok, err := s.studyExists(ctx, studyID)
		if err != nil {
			return nil, fmt.Errorf("trials of study %d: %w", studyID, err)
		}
		if !ok {
			return nil, goptuna.ErrInvalidStudyID
		}
	}
	return ts, nil
}

// GetBestTrial returns the complete trial with the best value in the
// study's direction (the lowest number among equals), or
// goptuna.ErrNoCompletedTrials.
func (s *Storage) GetBestTrial(studyID int) (goptuna.FrozenTrial, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	ts, err := s.queryTrials(ctx,
		`WHERE t.id = (SELECT b.id FROM study_trials b JOIN studies st ON st.id = b.study_id
		               WHERE b.study_id = $1 AND b.state = 'complete'
		               ORDER BY CASE WHEN st.direction = 'maximize' THEN -b.value ELSE b.value END, b.number
		               LIMIT 1)`, studyID)
	if err != nil {
		return goptuna.FrozenTrial{}, fmt.Errorf("best trial of study %d: %w", studyID, err)
	}
	if len(ts) == 0 {
		ok, err := s.studyExists(ctx, studyID)
		if err != nil {
			return goptuna.FrozenTrial{}, fmt.Errorf("best trial of study %d: %w", studyID, err)
		}
		if !ok {
			return goptuna.FrozenTrial{}, goptuna.ErrInvalidStudyID
		}
		return goptuna.FrozenTrial{}, goptuna.ErrNoCompletedTrials
	}
	return ts[0], nil
}

// GetTrialNumberFromID returns the trial's number.
func (s *Storage) GetTrialNumberFromID(trialID int) (int, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var n int
	err := s.conn().QueryRow(ctx, `SELECT number FROM study_trials WHERE id = $1`, trialID).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return -1, goptuna.ErrInvalidTrialID
	}
	if err != nil {
		return -1, fmt.Errorf("trial %d number: %w", trialID, err)
	}
	return n, nil
}

// GetTrialParam returns the internal value of a parameter of the trial,
// or ErrParamNotFound.
func (s *Storage) GetTrialParam(trialID int, paramName string) (float64, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var v *float64
	err := s.conn().QueryRow(ctx,
		`SELECT p.value_internal FROM study_trials t
		 LEFT JOIN study_trial_params p ON p.trial_id = t.id AND p.name = $2
		 WHERE t.id = $1`, trialID, paramName).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return -1, goptuna.ErrInvalidTrialID
	}
	if err != nil {
		return -1, fmt.Errorf("trial %d param %q: %w", trialID, paramName, err)
	}
	if v == nil {
		return -1, fmt.Errorf("trial %d param %q: %w", trialID, paramName, ErrParamNotFound)
	}
	return *v, nil
}

// GetTrialParams returns the trial's parameters in their external
// representation.
func (s *Storage) GetTrialParams(trialID int) (map[string]interface{}, error) {
	t, err := s.GetTrial(trialID)
	if err != nil {
		return nil, err
	}
	return t.Params, nil
}

// GetTrialUserAttrs returns the trial's user attributes.
func (s *Storage) GetTrialUserAttrs(trialID int) (map[string]string, error) {
	return s.trialAttrs(trialID, "user")
}

// GetTrialSystemAttrs returns the trial's system attributes.
func (s *Storage) GetTrialSystemAttrs(trialID int) (map[string]string, error) {
	return s.trialAttrs(trialID, "system")
}

func (s *Storage) trialAttrs(trialID int, kind string) (map[string]string, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	var keys, vals []string
	err := s.conn().QueryRow(ctx,
		`SELECT a.keys, a.vals FROM study_trials t
		 CROSS JOIN LATERAL (SELECT array_agg(key ORDER BY key) AS keys, array_agg(value ORDER BY key) AS vals
		                     FROM study_trial_attrs WHERE trial_id = t.id AND kind = $2) a
		 WHERE t.id = $1`, trialID, kind).Scan(&keys, &vals)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, goptuna.ErrInvalidTrialID
	}
	if err != nil {
		return nil, fmt.Errorf("trial %d %s attrs: %w", trialID, kind, err)
	}
	return pairs(keys, vals), nil
}
