// Package studystore implements goptuna.Storage on PostgreSQL with pgx, so
// that every search's optimizer state (studies, trials, sampled
// parameters, attributes) lives in the database and a restarted
// coordinator resumes each search exactly where it stopped.
//
// The tables are those of migrations/003_studies.sql: studies,
// study_attrs, study_trials, study_trial_params, study_trial_attrs and
// study_trial_intermediate. Trial states are stored as 'running',
// 'complete', 'pruned', 'fail' and 'waiting'; a parameter is stored as its
// internal (float) value with its distribution as goptuna's
// DistributionToJSON, and read back as the decoded distribution plus the
// external representation (ToExternalRepresentation).
//
// # Semantics
//
// The reference is goptuna's InMemoryStorage (and its rdb.v2 SQL storage
// where the two differ):
//
//   - Trial numbers are 0-based and consecutive within a study. A new
//     trial's number is assigned in the transaction that inserts it, under a
//     row lock on its study (FOR NO KEY UPDATE: it serialises creators but
//     not attribute writes), so concurrent creators never share a number.
//   - A finished trial (complete, pruned, fail) cannot be changed: every
//     setter returns goptuna.ErrTrialCannotBeUpdated. As in rdb.v2,
//     SetTrialState to the trial's current state is refused the same way,
//     so two workers cannot both pop one waiting trial. The one exception
//     is ReviseTrial, not part of goptuna.Storage (it implements
//     search.Reviser): it rewrites a complete trial's value and system
//     attributes in one transaction, for an outcome pooled from repeated
//     measurements (search.Optimizer.Revise).
//   - Unknown study and trial IDs give goptuna.ErrInvalidStudyID and
//     goptuna.ErrInvalidTrialID; an unknown study name gives
//     ErrStudyNotFound (which goptuna.CreateStudy with LoadIfExists treats
//     as "create it"), a taken name ErrStudyExists.
//   - SetTrialParam replaces a parameter set before (as InMemoryStorage
//     does); SetTrialIntermediateValue refuses a step that has a value
//     (ErrStepExists).
//   - GetBestTrial honours the study direction; ties go to the lowest trial
//     number. It returns goptuna.ErrNoCompletedTrials when no trial is
//     complete.
//   - Timestamps come from the database clock (microsecond precision).
//
// goptuna's own code compares some sentinels with == (for example
// ErrTrialCannotBeUpdated in Study.popWaitingTrialID), so the goptuna
// sentinels are returned unwrapped; every other error is wrapped with %w.
//
// # Context and timeouts
//
// goptuna.Storage has no context parameter. Every method runs under
// context.Background() with a deadline of Storage.Timeout (10 s by
// default): a call never hangs longer than that on a stuck database.
//
// # Atomic writes with the coordinator's tables
//
// Storage.Atomically runs a function in one transaction that the storage's
// own calls join, so the coordinator stores a trial's outcome in the study
// (what the samplers read) and in its trials table (what the API serves)
// together or not at all (store.Store.FinishTrial).
//
// # Cost
//
// GetAllTrials, which samplers call for every sampled trial, is one query
// (one round trip; a second one only tells an empty study from an unknown
// one): each trial row carries its parameters, attributes and intermediate
// values as arrays built by lateral subqueries, so the cost grows with the
// study's trials, not with the table. Decoded distributions are cached by
// their JSON text, since a study reuses a few of them across all its
// trials. BenchmarkGetAllTrials measures a 500-trial, 20-parameter study.
package studystore
