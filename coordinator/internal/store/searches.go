package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/internal/studystore"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// NewSearchID returns a fresh search ID.
func NewSearchID() string { return "s" + NewDeviceID()[1:] }

const searchCols = `s.id, s.name, s.spec, s.state, s.error, s.created_at, s.updated_at, s.finished_at, s.rejected,
	coalesce((s.spec->'budget'->>'max_trials')::int, 0),
	(SELECT count(*) FILTER (WHERE state = 'running') FROM trials t WHERE t.search_id = s.id),
	(SELECT count(*) FILTER (WHERE state = 'complete') FROM trials t WHERE t.search_id = s.id),
	(SELECT count(*) FILTER (WHERE state = 'failed') FROM trials t WHERE t.search_id = s.id),
	(SELECT count(*) FROM screened x WHERE x.search_id = s.id),
	(SELECT count(DISTINCT (r.number, r.round)) FROM remeasures r WHERE r.search_id = s.id)`

func scanSearch(row pgx.Row) (api.Search, error) {
	var s api.Search
	err := row.Scan(&s.ID, &s.Name, &s.Spec, &s.State, &s.Error, &s.CreatedAt, &s.UpdatedAt, &s.FinishedAt,
		&s.Progress.Rejected, &s.Progress.MaxTrials, &s.Progress.Running, &s.Progress.Complete, &s.Progress.Failed, &s.Progress.Screened, &s.Progress.Remeasured)
	return s, err
}

// CreateSearch stores a running search. createdBy is the API token that
// asked (0: the coordinator itself).
func (s *Store) CreateSearch(ctx context.Context, id, name string, spec json.RawMessage, createdBy int64) (api.Search, error) {
	_, err := s.pool.Exec(ctx, `INSERT INTO searches (id, name, spec, study, created_by) VALUES ($1, $2, $3, $4, NULLIF($5, 0))`,
		id, name, spec, "search-"+id, createdBy)
	if err != nil {
		return api.Search{}, fmt.Errorf("insert search: %w", err)
	}
	return s.GetSearch(ctx, id)
}

// GetSearch returns one search.
func (s *Store) GetSearch(ctx context.Context, id string) (api.Search, error) {
	se, err := scanSearch(s.pool.QueryRow(ctx, `SELECT `+searchCols+` FROM searches s WHERE s.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return se, ErrNotFound
	}
	return se, err
}

// SearchStudy returns the name of a search's goptuna study (the
// optimizer's state; not part of the API).
func (s *Store) SearchStudy(ctx context.Context, id string) (string, error) {
	var study string
	err := s.pool.QueryRow(ctx, `SELECT study FROM searches WHERE id = $1`, id).Scan(&study)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	return study, err
}

// ListSearches returns every search, newest first.
func (s *Store) ListSearches(ctx context.Context) ([]api.Search, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+searchCols+` FROM searches s ORDER BY s.created_at DESC, s.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []api.Search{}
	for rows.Next() {
		se, err := scanSearch(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, se)
	}
	return out, rows.Err()
}

// ErrStateConflict: the search is not in a state the transition accepts.
var ErrStateConflict = errors.New("search state does not allow this")

// SetSearchState moves a search from one of from to to.
func (s *Store) SetSearchState(ctx context.Context, id string, from []api.SearchState, to api.SearchState, reason string) error {
	var errText *string
	if reason != "" {
		errText = &reason
	}
	tag, err := s.pool.Exec(ctx, `UPDATE searches SET state = $3, error = coalesce($4, error), updated_at = now(),
		finished_at = CASE WHEN $3 IN ('cancelled', 'finished', 'failed') THEN now() ELSE finished_at END
		WHERE id = $1 AND state = ANY($2)`, id, from, to, errText)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.GetSearch(ctx, id); err != nil {
			return err
		}
		return ErrStateConflict
	}
	return nil
}

// ActiveSearches lists searches a driver should hold (running or paused).
func (s *Store) ActiveSearches(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM searches WHERE state IN ('running', 'paused') ORDER BY created_at`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// SetRejected records how many candidates the optimizer rejected.
func (s *Store) SetRejected(ctx context.Context, id string, n int) error {
	_, err := s.pool.Exec(ctx, `UPDATE searches SET rejected = $2 WHERE id = $1`, id, n)
	return err
}

// TrialRow is a trial with the goptuna trial that holds it in the search's
// study (the optimizer's side, not part of the API).
type TrialRow struct {
	api.Trial
	StudyTrial int
}

// InsertTrial stores a new running trial, the jobs that will measure it
// (filling in their creation times), and its targets in one transaction;
// number must be the next free one.
// The jobs are published after the commit (unpublished ones are
// re-published at start).
func (s *Store) InsertTrial(ctx context.Context, t TrialRow, jobs []api.Job) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for i := range jobs {
			if err := insertJob(ctx, tx, &jobs[i], 0, false); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO trials (search_id, number, study_trial, arch, arch_hash, params, layers, predicted, predicted_std)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, t.SearchID, t.Number, t.StudyTrial, t.Arch, t.ArchHash, t.Params, t.Layers,
			t.Predicted, t.PredictedStd); err != nil {
			return fmt.Errorf("insert trial: %w", err)
		}
		for _, tt := range t.Targets {
			if _, err := tx.Exec(ctx, `INSERT INTO trial_targets (search_id, number, target, device_id, job_id, measurement_id)
				VALUES ($1, $2, $3, $4, $5, $6)`, t.SearchID, t.Number, tt.Target, tt.DeviceID, tt.JobID, tt.MeasurementID); err != nil {
				return fmt.Errorf("insert trial target: %w", err)
			}
		}
		return nil
	})
}

// TrialStudyIDs returns the goptuna trial IDs that have a trial row.
func (s *Store) TrialStudyIDs(ctx context.Context, searchID string) (map[int]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT study_trial FROM trials WHERE search_id = $1`, searchID)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	m := map[int]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m, err
}

// TrialTargets loads the targets of a search's trials in the given state
// (all states if empty) and with the given number (all if negative), with
// job states and measurements.
func (s *Store) TrialTargets(ctx context.Context, searchID string, state api.TrialState, number int) (map[int][]api.TrialTarget, error) {
	rows, err := s.pool.Query(ctx, `SELECT tt.number, tt.target, tt.device_id, tt.job_id, coalesce(tt.measurement_id, m.id),
			coalesce(j.state, ''), j.error, coalesce(mc.metrics, m.metrics)
		FROM trial_targets tt JOIN trials t USING (search_id, number)
		LEFT JOIN jobs j ON j.id = tt.job_id
		LEFT JOIN measurements m ON m.job_id = tt.job_id
		LEFT JOIN measurements mc ON mc.id = tt.measurement_id
		WHERE tt.search_id = $1 AND ($2 = '' OR t.state = $2) AND ($3 < 0 OR tt.number = $3)
		ORDER BY tt.number, tt.target`, searchID, state, number)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int][]api.TrialTarget{}
	for rows.Next() {
		var n int
		var tt api.TrialTarget
		var metrics []byte
		if err := rows.Scan(&n, &tt.Target, &tt.DeviceID, &tt.JobID, &tt.MeasurementID, &tt.JobState, &tt.JobError, &metrics); err != nil {
			return nil, err
		}
		if metrics != nil {
			tt.Measurement = new(wire.Measurement)
			if err := json.Unmarshal(metrics, tt.Measurement); err != nil {
				return nil, err
			}
		}
		out[n] = append(out[n], tt)
	}
	return out, rows.Err()
}

// FinishTrial ends a running trial with its outcome (errText empty; std
// is one standard deviation per objective) or its failure. tell records the same end in the search's goptuna study
// through study (an optimizer's Tell or Fail); both writes are one
// transaction.
//
// The outcome has two homes on purpose. The optimizer keeps it as
// attributes of its goptuna trial, because its samplers read trials only
// through goptuna.Storage; the trials row keeps it in typed, indexed
// columns, because the API sorts and filters trials by objective and
// counts them by state, and numbers them without the rejected candidates
// that goptuna counts. Writing both in one transaction keeps them equal.
func (s *Store) FinishTrial(ctx context.Context, study *studystore.Storage, tell func() error, searchID string, number int, objectives, std []float64, violation float64, errText string) error {
	state, errp, violp := api.TrialComplete, (*string)(nil), &violation
	if errText != "" {
		state, errp, violp, objectives, std = api.TrialFailed, &errText, nil, nil, nil
	}
	return study.Atomically(ctx, func(tx pgx.Tx) error {
		if err := tell(); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE trials SET state = $3, objectives = $4, violation = $5, error = $6, objectives_std = $7, finished_at = now()
			WHERE search_id = $1 AND number = $2 AND state = 'running'`, searchID, number, state, objectives, violp, errp, std)
		return err
	})
}

// SetMeasuredStd sets the objective standard deviations of complete
// trials with no pooled re-measurement (remeasured = 0; a pooled trial's
// spread is PoolRemeasure's), by trial number, in one batch. The driver
// writes them when its estimate of the devices' between-run noise changes.
func (s *Store) SetMeasuredStd(ctx context.Context, searchID string, std map[int][]float64) error {
	if len(std) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for n, sd := range std {
		b.Queue(`UPDATE trials SET objectives_std = $3 WHERE search_id = $1 AND number = $2 AND state = 'complete' AND remeasured = 0`, searchID, n, sd)
	}
	return s.pool.SendBatch(ctx, b).Close()
}

// TrialCounts returns the number of trials per state.
func (s *Store) TrialCounts(ctx context.Context, searchID string) (running, complete, failed int, err error) {
	err = s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'running'), count(*) FILTER (WHERE state = 'complete'),
		count(*) FILTER (WHERE state = 'failed') FROM trials WHERE search_id = $1`, searchID).Scan(&running, &complete, &failed)
	return
}

// InFlight counts, per device, this search's targets and re-measurements
// whose job is unfinished.
func (s *Store) InFlight(ctx context.Context, searchID string) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT x.device_id, count(*) FROM
		(SELECT device_id, job_id FROM trial_targets WHERE search_id = $1
		 UNION ALL SELECT device_id, job_id FROM remeasures WHERE search_id = $1) x JOIN jobs j ON j.id = x.job_id
		WHERE j.state IN ('queued', 'running') GROUP BY x.device_id`, searchID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[string]int{}
	for rows.Next() {
		var d string
		var n int
		if err := rows.Scan(&d, &n); err != nil {
			return nil, err
		}
		m[d] = n
	}
	return m, rows.Err()
}

// CachedMeasurement finds the newest measurement of (spec, device,
// workload) taken by the agent version the device last reported with.
func (s *Store) CachedMeasurement(ctx context.Context, specHash, deviceID, workloadHash string) (int64, bool, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT m.id FROM measurements m
		WHERE m.spec_hash = $1 AND m.device_id = $2 AND m.workload_hash = $3
		  AND m.agent_version = (SELECT agent_version FROM measurements WHERE device_id = $2 ORDER BY created_at DESC LIMIT 1)
		ORDER BY m.created_at DESC LIMIT 1`, specHash, deviceID, workloadHash).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// UnfinishedJobs lists the queued or running jobs of a search's trials
// and re-measurements.
func (s *Store) UnfinishedJobs(ctx context.Context, searchID string) ([]api.Job, error) {
	return s.queryJobs(ctx, `(j.id IN (SELECT job_id FROM trial_targets WHERE search_id = $1)
		OR j.id IN (SELECT job_id FROM remeasures WHERE search_id = $1)) AND j.state IN ('queued', 'running')`, searchID)
}

// JobSeq returns a job's JOBS stream sequence (0 if never published).
func (s *Store) JobSeq(ctx context.Context, id string) (uint64, error) {
	var seq *int64
	err := s.pool.QueryRow(ctx, `SELECT stream_seq FROM jobs WHERE id = $1`, id).Scan(&seq)
	if err != nil || seq == nil {
		return 0, err
	}
	return uint64(*seq), nil
}

// CancelJob marks one unfinished job cancelled.
func (s *Store) CancelJob(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `UPDATE jobs SET state = 'cancelled', updated_at = now(), finished_at = now()
		WHERE id = $1 AND state IN ('queued', 'running')`, id)
	return err
}

// ListTrials returns one page of trials and the total matching.
func (s *Store) ListTrials(ctx context.Context, searchID string, q api.TrialQuery) ([]api.Trial, int, error) {
	order := "number"
	desc := strings.HasPrefix(q.Sort, "-")
	key := strings.TrimPrefix(q.Sort, "-")
	switch {
	case key == "" || key == "number":
	case key == "params" || key == "created_at":
		order = key
	case strings.HasPrefix(key, "objective:"):
		var i int
		if _, err := fmt.Sscanf(key, "objective:%d", &i); err != nil || i < 0 || i > 16 {
			return nil, 0, fmt.Errorf("sort %q: %w", q.Sort, ErrBadSort)
		}
		order = fmt.Sprintf("objectives[%d]", i+1)
	default:
		return nil, 0, fmt.Errorf("sort %q: %w", q.Sort, ErrBadSort)
	}
	if desc {
		order += " DESC NULLS LAST"
	} else {
		order += " ASC NULLS LAST"
	}
	where := `search_id = $1 AND ($2 = '' OR state = $2) AND ($3 = '' OR $3 = ANY(layers))`
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM trials WHERE `+where, searchID, q.State, q.Mixer).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+trialCols+` FROM trials WHERE `+where+` ORDER BY `+order+`, number LIMIT $4 OFFSET $5`,
		searchID, q.State, q.Mixer, q.Limit, q.Offset)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []api.Trial{}
	for rows.Next() {
		var t TrialRow
		if err := rows.Scan(trialDest(&t)...); err != nil {
			return nil, 0, err
		}
		out = append(out, t.Trial)
	}
	return out, total, rows.Err()
}

// RunningTrials returns a search's running trials, by number, with their
// goptuna trials.
func (s *Store) RunningTrials(ctx context.Context, searchID string) ([]TrialRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+trialCols+` FROM trials WHERE search_id = $1 AND state = 'running' ORDER BY number`, searchID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TrialRow
	for rows.Next() {
		var t TrialRow
		if err := rows.Scan(trialDest(&t)...); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ErrBadSort: an unknown sort key.
var ErrBadSort = errors.New("unknown sort key")

// TrialPoint is the compact row the Pareto and hypervolume views need.
type TrialPoint struct {
	Number     int       `json:"number"`
	Params     int64     `json:"params"`
	Layers     []string  `json:"layers"`
	Objectives []float64 `json:"objectives"`
	Violation  float64   `json:"violation"`
	// Std is one standard deviation per objective (nil when unknown).
	Std []float64 `json:"std,omitempty"`
	// Remeasured counts the re-measurements pooled into Objectives;
	// Rounds the re-measurement rounds dispatched (pooled, running or
	// failed), which the per-trial bound counts.
	Remeasured int `json:"remeasured"`
	Rounds     int `json:"-"`
	// StudyTrial is the trial's goptuna trial ID (not part of the API).
	StudyTrial int `json:"-"`
}

// CompletePoints returns every complete trial's objectives, by number.
func (s *Store) CompletePoints(ctx context.Context, searchID string) ([]TrialPoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT number, params, layers, objectives, coalesce(violation, 0), objectives_std, remeasured,
		(SELECT count(DISTINCT round) FROM remeasures r WHERE r.search_id = t.search_id AND r.number = t.number), study_trial
		FROM trials t WHERE search_id = $1 AND state = 'complete' ORDER BY number`, searchID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []TrialPoint{}
	for rows.Next() {
		var p TrialPoint
		if err := rows.Scan(&p.Number, &p.Params, &p.Layers, &p.Objectives, &p.Violation, &p.Std, &p.Remeasured, &p.Rounds, &p.StudyTrial); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// TrialArchs returns the stored architecture spec of the given trials of
// a search, by number (numbers with no trial are left out).
func (s *Store) TrialArchs(ctx context.Context, searchID string, numbers []int) (map[int]json.RawMessage, error) {
	rows, err := s.pool.Query(ctx, `SELECT number, arch FROM trials WHERE search_id = $1 AND number = ANY($2)`, searchID, numbers)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[int]json.RawMessage, len(numbers))
	for rows.Next() {
		var n int
		var a []byte
		if err := rows.Scan(&n, &a); err != nil {
			return nil, err
		}
		out[n] = a
	}
	return out, rows.Err()
}

// GetTrial returns one trial with its targets.
func (s *Store) GetTrial(ctx context.Context, searchID string, number int) (api.Trial, error) {
	var t TrialRow
	err := s.pool.QueryRow(ctx, `SELECT `+trialCols+` FROM trials WHERE search_id = $1 AND number = $2`, searchID, number).
		Scan(trialDest(&t)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return t.Trial, ErrNotFound
	}
	if err != nil {
		return t.Trial, err
	}
	tts, err := s.TrialTargets(ctx, searchID, "", number)
	if err != nil {
		return t.Trial, err
	}
	t.Targets = tts[number]
	evs, err := s.TrialEvaluations(ctx, searchID, number)
	t.Evaluations = evs[number]
	return t.Trial, err
}

const trialCols = `search_id, number, study_trial, arch, arch_hash, params, layers, state, objectives,
	violation, error, created_at, finished_at, predicted, predicted_std, objectives_std, remeasured`

func trialDest(t *TrialRow) []any {
	return []any{&t.SearchID, &t.Number, &t.StudyTrial, &t.Arch, &t.ArchHash, &t.Params, &t.Layers, &t.State,
		&t.Objectives, &t.Violation, &t.Error, &t.CreatedAt, &t.FinishedAt, &t.Predicted, &t.PredictedStd, &t.ObjectivesStd, &t.Remeasured}
}

// MatchDevices lists live devices matching explicit IDs, or a class
// and/or tags.
func (s *Store) MatchDevices(ctx context.Context, ids []string, class string, tags []string) ([]api.Device, error) {
	if ids == nil {
		ids = []string{}
	}
	if tags == nil {
		tags = []string{}
	}
	return s.queryDevices(ctx, `revoked_at IS NULL AND (cardinality($1::text[]) = 0 OR id = ANY($1))
		AND ($2 = '' OR class = $2) AND tags @> $3 ORDER BY created_at, id`, ids, class, tags)
}

// LostTarget is a running trial's target whose job failed because its
// device was lost.
type LostTarget struct {
	Number   int
	Target   string
	DeviceID string
	JobID    string
}

// LostTargets lists the targets of a search's running trials whose job
// failed with fail_kind device_lost (and so awaits a re-dispatch).
func (s *Store) LostTargets(ctx context.Context, searchID string) ([]LostTarget, error) {
	rows, err := s.pool.Query(ctx, `SELECT tt.number, tt.target, tt.device_id, tt.job_id
		FROM trial_targets tt JOIN trials t USING (search_id, number) JOIN jobs j ON j.id = tt.job_id
		WHERE tt.search_id = $1 AND t.state = 'running' AND j.state = 'failed' AND j.fail_kind = $2
		ORDER BY tt.number, tt.target`, searchID, wire.FailDeviceLost)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (LostTarget, error) {
		var l LostTarget
		err := r.Scan(&l.Number, &l.Target, &l.DeviceID, &l.JobID)
		return l, err
	})
}

// Redispatches lists a search's re-dispatched trial targets (the job a
// target points at replaces a lost one), oldest first.
func (s *Store) Redispatches(ctx context.Context, searchID string) ([]api.Redispatch, error) {
	rows, err := s.pool.Query(ctx, `SELECT tt.number, tt.target, old.device_id, old.id, j.device_id, j.id, j.created_at
		FROM trial_targets tt JOIN jobs j ON j.id = tt.job_id JOIN jobs old ON old.id = j.replaces
		WHERE tt.search_id = $1 ORDER BY j.created_at, tt.number, tt.target`, searchID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (api.Redispatch, error) {
		var d api.Redispatch
		err := r.Scan(&d.Trial, &d.Target, &d.FromDevice, &d.LostJob, &d.ToDevice, &d.Job, &d.At)
		return d, err
	})
}

// ErrAlreadyReplaced: the lost job was re-dispatched before (by this or
// another coordinator); nothing was stored.
var ErrAlreadyReplaced = errors.New("the lost job was already re-dispatched")

// ReplaceTrialJob stores j, which re-dispatches the lost job j.Replaces of
// a trial's target, and points the target at it, in one transaction. Only
// the first replacement of a lost job is stored (the target must still
// name the lost job, and jobs.replaces is unique); any other gets
// ErrAlreadyReplaced. ErrNotFound: j's device is unknown or revoked.
func (s *Store) ReplaceTrialJob(ctx context.Context, searchID string, number int, target string, j *api.Job) error {
	if j.Replaces == nil {
		return errors.New("replace trial job: no job to replace")
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE trial_targets SET job_id = NULL
			WHERE search_id = $1 AND number = $2 AND target = $3 AND job_id = $4`, searchID, number, target, *j.Replaces)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrAlreadyReplaced
		}
		if err := insertJob(ctx, tx, j, 0, true); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE trial_targets SET job_id = $4, device_id = $5
			WHERE search_id = $1 AND number = $2 AND target = $3`, searchID, number, target, j.ID, j.DeviceID)
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return ErrAlreadyReplaced
	}
	return err
}
