"""The MQAR evaluator's answer to one job: every outcome, success or a
failure with its kind and reason, becomes a protocol answer."""

import time

import evaluate
import model
import protocol

NAME = "mqar"

SCORES = [
    {"name": "mqar_accuracy", "direction": "maximize", "unit": "fraction",
     "description": "recall accuracy of the trained narrow copy on held-out MQAR sequences: the fraction of "
                    "queries whose most likely next token is the queried key's value"},
    {"name": "mqar_loss", "direction": "minimize", "unit": "nats",
     "description": "cross-entropy of the trained narrow copy at the query positions of the held-out set"},
]


def registration(url, name=NAME):
    """The evaluator's registration message (docs/evaluators.md §2)."""
    return {
        "protocol": protocol.PROTOCOL,
        "type": "evaluator_registration",
        "name": name,
        "version": evaluate.VERSION,
        "description": "Trains a narrow copy of the candidate (same layers and mixers, widths scaled by "
                       "width_factor) on multi-query associative recall (Zoology, Arora et al. 2023) on the CPU "
                       "and reports recall.",
        "transport": "webhook",
        "url": url,
        "scores": SCORES,
        "accepts": {"mixers": list(model.MIXERS)},
        "default_settings": dict(evaluate.DEFAULTS),
        "timeout_seconds": 900,
        "max_concurrency": 1,
    }


def run(job, should_stop):
    """Evaluates job (checked by protocol.check_job) and returns its answer."""
    v = evaluate.VERSION
    started = time.time()

    def failed(kind, msg, retryable=False):
        return protocol.answer_failed(job, v, kind, msg, retryable, started=started, finished=time.time())

    if time.time() >= protocol.parse_time(job["deadline"]):
        return failed("timeout", f"the job's deadline {job['deadline']} passed before it started")
    try:
        settings = evaluate.resolve_settings(job["settings"])
    except evaluate.SettingsError as err:
        return failed("invalid_settings", str(err))
    try:
        res = evaluate.evaluate(job["arch"], settings, job["seed"], should_stop)
    except model.UnsupportedMixer as err:
        return failed("unsupported", str(err))
    except evaluate.InvalidSpec as err:
        return failed("invalid_job", str(err))
    except evaluate.Deadline as err:
        return failed("timeout", f"training did not finish before the deadline {job['deadline']}: {err}")
    except FloatingPointError as err:
        return failed("diverged", str(err))
    except MemoryError as err:
        return failed("resources", f"out of memory: {err}")
    except Exception as err:  # noqa: BLE001 - any other failure is the worker's, and may pass on a retry
        return failed("internal", f"{type(err).__name__}: {err}", retryable=True)
    return protocol.answer_ok(job, v, res["scores"], res["curves"], res["details"], started=started,
                              finished=time.time())
