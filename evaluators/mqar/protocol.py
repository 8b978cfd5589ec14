"""The evaluator protocol, version 1 (docs/evaluators.md): message checks,
HMAC-SHA256 request signatures, replay protection. Standard library only.

A signed request carries three headers:

    Hil-Timestamp: <Unix seconds>
    Hil-Delivery:  <delivery ID, 16-64 of [A-Za-z0-9_-], new for every request>
    Hil-Signature: v1=<hex HMAC-SHA256(secret, timestamp "." delivery "." body)>[,v1=<hex>...]

The receiver accepts a request when one v1 value matches one of its
secrets, the timestamp is within WINDOW seconds of its clock and the
delivery ID has not been seen within the replay cache's memory (2·WINDOW).
"""

import datetime
import hashlib
import hmac
import re
import secrets as _secrets
import threading
import time

PROTOCOL = 1
WINDOW = 300  # seconds a signed request stays valid either side of the receiver's clock

H_TIMESTAMP = "Hil-Timestamp"
H_DELIVERY = "Hil-Delivery"
H_SIGNATURE = "Hil-Signature"

DELIVERY_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SCORE_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SIG_RE = re.compile(r"^v1=([0-9a-f]{64})$")

# Failure kinds of an answer; docs/evaluators.md §3 says which are retried.
FAIL_KINDS = ("invalid_job", "invalid_settings", "unsupported", "timeout", "cancelled", "diverged", "resources",
              "internal")


class AuthError(Exception):
    """A request whose signature, timestamp or delivery ID is refused.
    kind is "unauthorized", "stale" or "replayed"."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def sign(secret, timestamp, delivery, body):
    """The hex HMAC-SHA256 of `timestamp.delivery.body` under secret (str or
    bytes; a str is used as its UTF-8 bytes)."""
    if isinstance(secret, str):
        secret = secret.encode()
    msg = str(int(timestamp)).encode() + b"." + delivery.encode() + b"." + body
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def new_delivery_id():
    """A fresh random delivery ID (22 URL-safe characters, 128 bits)."""
    return _secrets.token_urlsafe(16)


def signed_headers(secrets, body, now=None, delivery=None):
    """Headers for a request with `body` signed with every secret (the first
    is the current one; more than one only while a secret is rotated)."""
    ts = int(time.time() if now is None else now)
    delivery = delivery or new_delivery_id()
    sig = ",".join("v1=" + sign(s, ts, delivery, body) for s in secrets)
    return {H_TIMESTAMP: str(ts), H_DELIVERY: delivery, H_SIGNATURE: sig, "Content-Type": "application/json"}


class ReplayCache:
    """Delivery IDs seen in the last `ttl` seconds (thread-safe)."""

    def __init__(self, ttl=2 * WINDOW):
        self.ttl = ttl
        self._seen = {}
        self._lock = threading.Lock()

    def add(self, delivery, now):
        """Records delivery; False when it was already recorded."""
        with self._lock:
            if len(self._seen) > 1024:
                for k in [k for k, exp in self._seen.items() if exp <= now]:
                    del self._seen[k]
            exp = self._seen.get(delivery)
            if exp is not None and exp > now:
                return False
            self._seen[delivery] = now + self.ttl
            return True


def verify(secrets, headers, body, replay, now=None):
    """Checks a signed request; raises AuthError. headers is any mapping
    with case-insensitive get (http.server's message), secrets the
    receiver's accepted secrets. The delivery ID is recorded only for a
    request whose signature is valid, so forged requests cannot fill the
    replay cache or block a genuine delivery ID."""
    now = time.time() if now is None else now
    ts, delivery, sig = headers.get(H_TIMESTAMP), headers.get(H_DELIVERY), headers.get(H_SIGNATURE)
    if not ts or not delivery or not sig:
        raise AuthError("unauthorized", f"missing {H_TIMESTAMP}, {H_DELIVERY} or {H_SIGNATURE}")
    if not re.fullmatch(r"[0-9]{1,12}", ts):
        raise AuthError("unauthorized", f"{H_TIMESTAMP} is not Unix seconds: {ts[:32]!r}")
    if not DELIVERY_RE.match(delivery):
        raise AuthError("unauthorized", f"{H_DELIVERY} must be 16-64 of [A-Za-z0-9_-]")
    given = []
    for part in sig.split(","):
        m = _SIG_RE.match(part.strip())
        if m:
            given.append(m.group(1))
    if not given:
        raise AuthError("unauthorized", f"{H_SIGNATURE} has no v1=<64 hex> value")
    ok = False
    for s in secrets:
        want = sign(s, int(ts), delivery, body)
        for g in given:
            ok |= hmac.compare_digest(want, g)
    if not ok:
        raise AuthError("unauthorized", "signature does not match")
    if abs(now - int(ts)) > WINDOW:
        raise AuthError("stale", f"timestamp {ts} is more than {WINDOW} s from the receiver's clock ({int(now)})")
    if not replay.add(delivery, now):
        raise AuthError("replayed", f"delivery {delivery} was already received")


def parse_time(s):
    """An RFC 3339 timestamp as Unix seconds; ValueError when malformed."""
    if not isinstance(s, str) or not re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)", s):
        raise ValueError(f"not an RFC 3339 time: {s!r}")
    s2 = s.replace("Z", "+00:00")
    frac = re.search(r"\.(\d+)", s2)
    if frac:  # Python's fromisoformat takes at most 6 fraction digits
        s2 = s2.replace(frac.group(0), "." + frac.group(1)[:6].ljust(6, "0"))
    return datetime.datetime.fromisoformat(s2).timestamp()


def format_time(t):
    """Unix seconds as RFC 3339 UTC with millisecond precision."""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def check_job(job):
    """Field errors ("path: message") of an evaluation job (the envelope;
    the arch spec and the settings are the evaluator's to judge)."""
    errs = []
    if not isinstance(job, dict):
        return ["job: must be a JSON object"]

    def need(k, ok, what):
        if k not in job:
            errs.append(f"{k}: missing")
        elif not ok(job[k]):
            errs.append(f"{k}: must be {what}")

    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    need("protocol", lambda v: v == PROTOCOL, f"{PROTOCOL}")
    need("type", lambda v: v == "evaluation_job", '"evaluation_job"')
    need("job_id", lambda v: isinstance(v, str) and JOB_ID_RE.match(v), "1-64 of [A-Za-z0-9_-]")
    need("evaluator", lambda v: isinstance(v, str) and NAME_RE.match(v), "a lower-case name")
    need("arch", lambda v: isinstance(v, dict), "an arch.Spec object")
    need("arch_hash", lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v), "64 hex digits")
    need("seed", lambda v: is_int(v) and 0 <= v < 1 << 63, "an integer in [0, 2^63)")
    need("settings", lambda v: isinstance(v, dict), "a JSON object")
    need("settings_hash", lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v), "64 hex digits")
    for k in ("created_at", "deadline"):
        def ok_time(v):
            try:
                parse_time(v)
                return True
            except ValueError:
                return False
        need(k, ok_time, "an RFC 3339 time")
    if "hf_config" in job and not isinstance(job["hf_config"], dict):
        errs.append("hf_config: must be a JSON object when present")
    if "callback_url" in job and not (isinstance(job["callback_url"], str)
                                      and re.match(r"^https?://[^\s]+$", job["callback_url"])):
        errs.append("callback_url: must be an http(s) URL")
    for k in ("search_id", "trial"):
        if k in job and not (isinstance(job[k], str) if k == "search_id" else is_int(job[k])):
            errs.append(f"{k}: wrong type")
    return errs


def answer_ok(job, version, scores, curves=None, details=None, started=None, finished=None):
    """A successful answer to job."""
    a = {"protocol": PROTOCOL, "type": "evaluation_answer", "job_id": job["job_id"], "evaluator": job["evaluator"],
         "evaluator_version": version, "status": "ok", "scores": scores}
    if curves:
        a["curves"] = curves
    return _stamp(a, details, started, finished)


def answer_failed(job, version, kind, message, retryable=False, details=None, started=None, finished=None):
    """A failed answer to job: kind is one of FAIL_KINDS, message names the
    reason (e.g. the layer and mixer it cannot build)."""
    assert kind in FAIL_KINDS, kind
    a = {"protocol": PROTOCOL, "type": "evaluation_answer", "job_id": job["job_id"], "evaluator": job["evaluator"],
         "evaluator_version": version, "status": "failed",
         "error": {"kind": kind, "message": message, "retryable": bool(retryable)}}
    return _stamp(a, details, started, finished)


def _stamp(a, details, started, finished):
    if started is not None:
        a["started_at"] = format_time(started)
    if finished is not None:
        a["finished_at"] = format_time(finished)
    if details:
        a["details"] = details
    return a
