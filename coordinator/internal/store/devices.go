package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/wire"
)

// OnlineWindow is how recent the last heartbeat must be for a device to be
// online. Agents send one every 10 s.
const OnlineWindow = 30 * time.Second

// deriveStatus sets d.Status from its revocation and last heartbeat.
func deriveStatus(d *api.Device, now time.Time) {
	switch {
	case d.RevokedAt != nil:
		d.Status = api.DeviceRevoked
	case d.LastSeen == nil || now.Sub(*d.LastSeen) > OnlineWindow:
		d.Status = api.DeviceOffline
	case d.LastStatus != nil && *d.LastStatus == "busy":
		d.Status = api.DeviceBusy
	default:
		d.Status = api.DeviceOnline
	}
}

// NewDeviceID returns a fresh device ID: "d" and 16 hex digits, safe as a
// NATS subject token and as part of a consumer name.
func NewDeviceID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "d" + hex.EncodeToString(b[:])
}

// Enroll consumes the enrollment token secret and creates the device in one
// transaction. The token row is locked first, so of two concurrent
// enrollments with one token exactly one succeeds; on any error nothing is
// created and the token stays as it was. beforeCommit, if not nil, runs
// inside the transaction once the device row exists (the bus creates the
// agent's consumers there); its error rolls everything back.
func (s *Store) Enroll(ctx context.Context, nd wire.EnrollRequest, beforeCommit func(api.Device) error) (api.Device, error) {
	var d api.Device
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var tokID int64
		var expires time.Time
		var used *time.Time
		err := tx.QueryRow(ctx, `SELECT id, expires_at, used_at FROM enrollment_tokens
			WHERE token_hash = $1 FOR UPDATE`, HashSecret(nd.Token)).Scan(&tokID, &expires, &used)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrTokenUnknown
		}
		if err != nil {
			return err
		}
		if used != nil {
			return ErrTokenUsed
		}
		var now time.Time
		if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&now); err != nil {
			return err
		}
		if !now.Before(expires) {
			return ErrTokenExpired
		}
		id := NewDeviceID()
		tags := nd.Tags
		if tags == nil {
			tags = []string{}
		}
		profile := nd.Profile
		if len(profile) == 0 {
			profile = json.RawMessage(`{}`)
		}
		err = tx.QueryRow(ctx, `INSERT INTO devices (id, name, tags, class, profile, nkey)
			VALUES ($1, $2, $3, $4, $5, $6)
			RETURNING `+deviceCols, id, nd.Name, tags, nd.Class, profile, nd.NKey).
			Scan(deviceDest(&d)...)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return ErrKeyInUse
		}
		if err != nil {
			return fmt.Errorf("insert device: %w", err)
		}
		if _, err = tx.Exec(ctx, `UPDATE enrollment_tokens SET used_at = now(), device_id = $2 WHERE id = $1`, tokID, id); err != nil {
			return err
		}
		if beforeCommit != nil {
			return beforeCommit(d)
		}
		return nil
	})
	if err != nil {
		return api.Device{}, err
	}
	deriveStatus(&d, time.Now())
	return d, nil
}

const deviceCols = `id, name, tags, class, profile, nkey, created_at, last_seen, last_status, last_temp_c, revoked_at,
	(SELECT count(*) FROM measurements m WHERE m.device_id = devices.id)`

func deviceDest(d *api.Device) []any {
	return []any{&d.ID, &d.Name, &d.Tags, &d.Class, &d.Profile, &d.NKey, &d.CreatedAt, &d.LastSeen, &d.LastStatus, &d.LastTempC, &d.RevokedAt, &d.Measurements}
}

// DeviceFilter narrows ListDevices.
type DeviceFilter struct {
	IncludeRevoked bool
	Class          string
	Tag            string
}

// ListDevices returns devices ordered by creation.
func (s *Store) ListDevices(ctx context.Context, f DeviceFilter) ([]api.Device, error) {
	return s.queryDevices(ctx, `($1 OR revoked_at IS NULL) AND ($2 = '' OR class = $2) AND ($3 = '' OR $3 = ANY(tags))
		ORDER BY created_at, id`, f.IncludeRevoked, f.Class, f.Tag)
}

// queryDevices returns the devices matching where, with derived status.
func (s *Store) queryDevices(ctx context.Context, where string, args ...any) ([]api.Device, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deviceCols+` FROM devices WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	now := time.Now()
	out := []api.Device{}
	for rows.Next() {
		var d api.Device
		if err := rows.Scan(deviceDest(&d)...); err != nil {
			return nil, err
		}
		deriveStatus(&d, now)
		out = append(out, d)
	}
	return out, rows.Err()
}

// GetDevice returns one device, revoked ones included.
func (s *Store) GetDevice(ctx context.Context, id string) (api.Device, error) {
	var d api.Device
	err := s.pool.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = $1`, id).Scan(deviceDest(&d)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	if err != nil {
		return d, fmt.Errorf("get device: %w", err)
	}
	deriveStatus(&d, time.Now())
	return d, nil
}

// UpdateDevice applies p to a live device.
func (s *Store) UpdateDevice(ctx context.Context, id string, p api.DevicePatch) (api.Device, error) {
	var d api.Device
	err := s.pool.QueryRow(ctx, `UPDATE devices SET name = coalesce($2, name), tags = coalesce($3, tags)
		WHERE id = $1 AND revoked_at IS NULL RETURNING `+deviceCols, id, p.Name, p.Tags).Scan(deviceDest(&d)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	if err != nil {
		return d, fmt.Errorf("update device: %w", err)
	}
	deriveStatus(&d, time.Now())
	return d, nil
}

// RevokeDevice marks a live device revoked and returns it.
func (s *Store) RevokeDevice(ctx context.Context, id string) (api.Device, error) {
	var d api.Device
	err := s.pool.QueryRow(ctx, `UPDATE devices SET revoked_at = now()
		WHERE id = $1 AND revoked_at IS NULL RETURNING `+deviceCols, id).Scan(deviceDest(&d)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	if err != nil {
		return d, fmt.Errorf("revoke device: %w", err)
	}
	deriveStatus(&d, time.Now())
	return d, nil
}

// Heartbeat is one presence report from an agent.
type Heartbeat struct {
	At      time.Time
	Status  string
	TempC   *float64
	Payload json.RawMessage
}

// RecordHeartbeat stores a heartbeat and updates the device's last_seen. A
// heartbeat of a revoked or unknown device is ignored (ErrNotFound).
func (s *Store) RecordHeartbeat(ctx context.Context, deviceID string, hb Heartbeat) error {
	payload := hb.Payload
	if len(payload) == 0 {
		payload = json.RawMessage(`{}`)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE devices SET last_seen = greatest(coalesce(last_seen, $2), $2),
			last_status = $3, last_temp_c = $4 WHERE id = $1 AND revoked_at IS NULL`,
			deviceID, hb.At, hb.Status, hb.TempC)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		_, err = tx.Exec(ctx, `INSERT INTO heartbeats (device_id, at, status, temp_c, payload)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, deviceID, hb.At, hb.Status, hb.TempC, payload)
		return err
	})
}

// SetDeviceRuntimes replaces the "runtimes" field of a live device's
// profile with runtimes (a JSON array of wire.RuntimeInfo) and reports
// whether it changed. An unknown or revoked device changes nothing.
func (s *Store) SetDeviceRuntimes(ctx context.Context, deviceID string, runtimes json.RawMessage) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE devices SET profile = jsonb_set(coalesce(profile, '{}'), '{runtimes}', $2::jsonb)
		WHERE id = $1 AND revoked_at IS NULL AND coalesce(profile->'runtimes', '[]'::jsonb) IS DISTINCT FROM $2::jsonb`, deviceID, string(runtimes))
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() > 0, nil
}

// Presence is the latest heartbeat of one device, for RecordPresence.
type Presence struct {
	DeviceID string
	Heartbeat
	// History: also keep this heartbeat in the heartbeats table.
	History bool
}

// RecordPresence applies a batch of heartbeats (at most one per device) in
// one transaction of two statements, whatever the batch's size: every
// live device's last_seen, status and temperature, and the history rows of
// those marked History. Unknown and revoked devices are skipped.
func (s *Store) RecordPresence(ctx context.Context, batch []Presence) error {
	if len(batch) == 0 {
		return nil
	}
	ids := make([]string, len(batch))
	ats := make([]time.Time, len(batch))
	sts := make([]string, len(batch))
	temps := make([]*float64, len(batch))
	var hIDs, hSts []string
	var hAts []time.Time
	var hTemps []*float64
	var hPay []string
	for i, p := range batch {
		ids[i], ats[i], sts[i], temps[i] = p.DeviceID, p.At, p.Status, p.TempC
		if p.History {
			payload := string(p.Payload)
			if payload == "" {
				payload = `{}`
			}
			hIDs, hAts, hSts, hTemps, hPay = append(hIDs, p.DeviceID), append(hAts, p.At), append(hSts, p.Status), append(hTemps, p.TempC), append(hPay, payload)
		}
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE devices d SET last_seen = greatest(coalesce(d.last_seen, u.at), u.at),
				last_status = u.status, last_temp_c = u.temp
			FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::float8[]) AS u(id, at, status, temp)
			WHERE d.id = u.id AND d.revoked_at IS NULL`, ids, ats, sts, temps); err != nil {
			return fmt.Errorf("record presence: %w", err)
		}
		if len(hIDs) == 0 {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO heartbeats (device_id, at, status, temp_c, payload)
			SELECT u.id, u.at, u.status, u.temp, u.payload::jsonb
			FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::float8[], $5::text[]) AS u(id, at, status, temp, payload)
			JOIN devices d ON d.id = u.id AND d.revoked_at IS NULL
			ON CONFLICT DO NOTHING`, hIDs, hAts, hSts, hTemps, hPay)
		if err != nil {
			return fmt.Errorf("record heartbeat history: %w", err)
		}
		return nil
	})
}

// PruneHeartbeats deletes heartbeat history older than keep.
func (s *Store) PruneHeartbeats(ctx context.Context, keep time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM heartbeats WHERE at < now() - make_interval(secs => $1)`, keep.Seconds())
	return tag.RowsAffected(), err
}

// AgentIdentity is what the NATS authenticator needs to know of a device.
type AgentIdentity struct {
	DeviceID string
	Class    string
	NKey     string
}

// Identities returns the NATS identities of every live device, or of every
// revoked one.
func (s *Store) Identities(ctx context.Context, revoked bool) ([]AgentIdentity, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, class, nkey FROM devices WHERE (revoked_at IS NOT NULL) = $1`, revoked)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AgentIdentity, error) {
		var a AgentIdentity
		err := r.Scan(&a.DeviceID, &a.Class, &a.NKey)
		return a, err
	})
}

// CountLive counts the devices enrolled and not revoked.
func (s *Store) CountLive(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM devices WHERE revoked_at IS NULL`).Scan(&n)
	return n, err
}

// CountOnline counts live devices whose last heartbeat is within OnlineWindow.
func (s *Store) CountOnline(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM devices WHERE revoked_at IS NULL
		AND last_seen > now() - make_interval(secs => $1)`, OnlineWindow.Seconds()).Scan(&n)
	return n, err
}
