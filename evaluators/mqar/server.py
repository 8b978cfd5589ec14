"""The webhook side of the evaluator protocol (docs/evaluators.md §4).

Worker receives signed evaluation jobs on POST /v1/jobs, acknowledges at
once (202), runs jobs one at a time on its own thread and sends each
answer as a signed POST to the job's callback_url, retrying until the
coordinator takes it. A job delivered again (same job_id) is not run
again: the worker reports its state and, once answered, sends the answer
again. With a state directory, answers survive a restart of the worker
until the coordinator has taken them.
"""

import hashlib
import heapq
import http.server
import json
import logging
import os
import queue
import threading
import time
import urllib.error
import urllib.request

import protocol

log = logging.getLogger("mqar")

MAX_BODY = 8 << 20  # bytes of one request body
REMEMBER = 24 * 3600  # seconds a finished job is remembered (dedup of redeliveries)
DEADLINE_MARGIN = 5.0  # seconds before the deadline at which training stops to answer in time


class Entry:
    """One job the worker has accepted."""

    def __init__(self, job, digest):
        self.job = job
        self.digest = digest
        self.state = "queued"  # queued, running, done
        self.answer = None
        self.cancelled = False
        self.done_at = None


class Worker:
    """The evaluator's job table, runner and answer sender.

    run_job(job, should_stop) -> answer dict does the evaluation (see
    mqar_job.run); it is injected so the protocol tests can use a trivial
    job. secrets are the accepted webhook secrets, the first being the one
    answers are signed with."""

    def __init__(self, name, secrets, run_job, queue_size=16, state_dir=None, callback_retry_for=3600.0,
                 callback_timeout=10.0, clock=time.time):
        if not secrets:
            raise ValueError("at least one webhook secret is needed")
        self.name = name
        self.secrets = [s.encode() if isinstance(s, str) else s for s in secrets]
        self.run_job = run_job
        self.replay = protocol.ReplayCache()
        self.clock = clock
        self.callback_retry_for = callback_retry_for
        self.callback_timeout = callback_timeout
        self._jobs = {}
        self._lock = threading.Lock()
        self._queue = queue.Queue(maxsize=queue_size)
        self._outbox = []  # heap of (next_try, seq, item)
        self._outbox_cv = threading.Condition()
        self._seq = 0
        self._stop = threading.Event()
        self.state_dir = state_dir
        self.running = None
        if state_dir:
            for sub in ("pending", "sent"):
                os.makedirs(os.path.join(state_dir, sub), exist_ok=True)
            self._load_state()
        self._threads = [threading.Thread(target=self._runner, name="mqar-runner", daemon=True),
                         threading.Thread(target=self._sender, name="mqar-sender", daemon=True)]
        for t in self._threads:
            t.start()

    # --- receiving -------------------------------------------------------

    def submit(self, job):
        """Accepts a checked job; returns (HTTP status, body)."""
        digest = hashlib.sha256(json.dumps(job, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        with self._lock:
            self._forget_old()
            e = self._jobs.get(job["job_id"])
            if e is not None:
                if e.digest != digest:
                    return 409, {"code": "conflict",
                                 "message": f"job {job['job_id']} was delivered before with another body"}
                if e.state == "done" and e.answer is not None:
                    self._enqueue_answer(e.answer, e.job.get("callback_url"), e.digest)
                return 202, {"job_id": job["job_id"], "state": e.state}
            e = Entry(job, digest)
            try:
                self._queue.put_nowait(e)
            except queue.Full:
                return 503, {"code": "busy", "message": f"{self._queue.maxsize} jobs are queued"}
            self._jobs[job["job_id"]] = e
        log.info("job accepted: %s", job["job_id"])
        return 202, {"job_id": job["job_id"], "state": "accepted"}

    def cancel(self, msg):
        """Cancels a queued or running job; no answer is sent for it."""
        with self._lock:
            e = self._jobs.get(msg.get("job_id"))
            if e is None or e.state == "done":
                return 202, {"job_id": msg.get("job_id"), "state": "unknown" if e is None else "done"}
            e.cancelled = True
        log.info("job cancelled: %s (%s)", msg.get("job_id"), msg.get("reason", ""))
        return 202, {"job_id": msg.get("job_id"), "state": "cancelled"}

    def _forget_old(self):
        now = self.clock()
        for k in [k for k, e in self._jobs.items() if e.done_at is not None and e.done_at + REMEMBER < now]:
            del self._jobs[k]

    # --- running ---------------------------------------------------------

    def _runner(self):
        while not self._stop.is_set():
            try:
                e = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if e.cancelled:
                self._finish(e, None)
                continue
            e.state = "running"
            self.running = e.job["job_id"]
            deadline = protocol.parse_time(e.job["deadline"])
            try:
                answer = self.run_job(e.job, lambda: e.cancelled or self.clock() > deadline - DEADLINE_MARGIN)
            except Exception as err:  # run_job answers every failure it knows; this is a bug
                log.exception("job %s", e.job["job_id"])
                answer = protocol.answer_failed(e.job, "unknown", "internal", f"{type(err).__name__}: {err}", True)
            self.running = None
            self._finish(e, None if e.cancelled else answer)

    def _finish(self, e, answer):
        with self._lock:
            e.state, e.done_at = "done", self.clock()
            if answer is None:
                return
            if answer["status"] == "failed" and answer["error"]["retryable"]:
                # A retryable failure is not the job's final word: a new
                # delivery of the same job ID runs it again.
                self._jobs.pop(e.job["job_id"], None)
            else:
                e.answer = answer
        log.info("job %s answered: %s", e.job["job_id"], answer["status"])
        self._enqueue_answer(answer, e.job.get("callback_url"), e.digest)

    # --- answering -------------------------------------------------------

    def _enqueue_answer(self, answer, url, digest):
        if not url:
            log.error("job %s has no callback_url; answer dropped", answer["job_id"])
            return
        item = {"answer": answer, "url": url, "digest": digest, "give_up": self.clock() + self.callback_retry_for,
                "attempt": 0}
        self._spool(item, "pending")
        with self._outbox_cv:
            self._seq += 1
            heapq.heappush(self._outbox, (0.0, self._seq, item))
            self._outbox_cv.notify()

    def _sender(self):
        while not self._stop.is_set():
            with self._outbox_cv:
                while not self._stop.is_set() and (not self._outbox or self._outbox[0][0] > self.clock()):
                    wait = 0.5 if not self._outbox else min(0.5, self._outbox[0][0] - self.clock())
                    self._outbox_cv.wait(max(0.01, wait))
                if self._stop.is_set():
                    return
                _, _, item = heapq.heappop(self._outbox)
            self._deliver(item)

    def _deliver(self, item):
        answer = item["answer"]
        body = json.dumps(answer, separators=(",", ":")).encode()
        headers = protocol.signed_headers(self.secrets[:1], body, now=self.clock())
        req = urllib.request.Request(item["url"], data=body, headers=headers, method="POST")
        status, text = None, ""
        try:
            with urllib.request.urlopen(req, timeout=self.callback_timeout) as resp:
                status, text = resp.status, resp.read(4096).decode(errors="replace")
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read(4096).decode(errors="replace")
        except (urllib.error.URLError, OSError) as err:
            text = str(err)
        item["attempt"] += 1
        if status is not None and 200 <= status < 300:
            log.info("answer for %s delivered (%d): %s", answer["job_id"], status, text[:200])
            self._spool(item, "sent")
            return
        if status is not None and 400 <= status < 500 and status not in (408, 429):
            log.error("answer for %s refused (%d), not retried: %s", answer["job_id"], status, text[:500])
            self._spool(item, "sent")
            return
        delay = min(60.0, 2.0 ** (item["attempt"] - 1))
        if self.clock() + delay > item["give_up"]:
            log.error("answer for %s not delivered after %d attempts; kept in the spool", answer["job_id"],
                      item["attempt"])
            return
        log.warning("answer for %s: attempt %d failed (%s %s); retry in %.0f s", answer["job_id"], item["attempt"],
                    status, text[:200], delay)
        with self._outbox_cv:
            self._seq += 1
            heapq.heappush(self._outbox, (self.clock() + delay, self._seq, item))
            self._outbox_cv.notify()

    # --- durability ------------------------------------------------------

    def _spool(self, item, where):
        """pending/<job>.json is written (and fsynced) before the first
        attempt; it moves to sent/ once the coordinator took the answer
        (or refused it for good)."""
        if not self.state_dir:
            return
        name = item["answer"]["job_id"] + ".json"
        pending = os.path.join(self.state_dir, "pending", name)
        if where == "pending":
            tmp = pending + ".tmp"
            with open(tmp, "w") as f:
                json.dump({"answer": item["answer"], "url": item["url"], "digest": item["digest"]}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, pending)
        elif os.path.exists(pending):
            os.replace(pending, os.path.join(self.state_dir, "sent", name))

    def _load_state(self):
        now = self.clock()
        for where in ("sent", "pending"):
            d = os.path.join(self.state_dir, where)
            for fn in sorted(os.listdir(d)):
                if not fn.endswith(".json"):
                    continue
                path = os.path.join(d, fn)
                if where == "sent" and os.path.getmtime(path) + REMEMBER < now:
                    os.remove(path)
                    continue
                try:
                    with open(path) as f:
                        rec = json.load(f)
                except (OSError, ValueError):
                    log.warning("unreadable spool file %s skipped", path)
                    continue
                a = rec["answer"]
                e = Entry({"job_id": a["job_id"], "callback_url": rec["url"]}, rec.get("digest"))
                e.state, e.answer, e.done_at = "done", a, now
                self._jobs[a["job_id"]] = e
                if where == "pending":
                    item = {"answer": a, "url": rec["url"], "digest": rec.get("digest"),
                            "give_up": now + self.callback_retry_for, "attempt": 0}
                    self._seq += 1
                    heapq.heappush(self._outbox, (0.0, self._seq, item))

    def close(self):
        self._stop.set()
        with self._outbox_cv:
            self._outbox_cv.notify_all()
        for t in self._threads:
            t.join(timeout=5)


def make_handler(worker, registration):
    """The HTTP handler class serving worker; registration(base_url) gives
    the registration message served at GET /v1/registration."""

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "hil-evaluator/1"
        protocol_version = "HTTP/1.1"

        def _send(self, status, obj, extra=None):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status, code, message, extra=None):
            self._send(status, {"code": code, "message": message}, extra)

        def do_GET(self):
            if self.path == "/healthz":
                self._send(200, {"status": "ok", "evaluator": worker.name, "running": worker.running})
            elif self.path == "/v1/registration":
                host, port = self.server.server_address[:2]
                self._send(200, registration(f"http://{host}:{port}/v1/jobs"))
            else:
                self._error(404, "not_found", f"no resource {self.path}")

        def do_POST(self):
            if self.path != "/v1/jobs":
                self._error(404, "not_found", f"no resource {self.path}")
                return
            n = self.headers.get("Content-Length")
            if n is None or not n.isdigit():
                self._error(411, "bad_request", "Content-Length is required")
                return
            if int(n) > MAX_BODY:
                self.close_connection = True
                self._error(413, "too_large", f"body over {MAX_BODY} bytes")
                return
            body = self.rfile.read(int(n))
            try:
                protocol.verify(worker.secrets, self.headers, body, worker.replay, now=worker.clock())
            except protocol.AuthError as err:
                log.warning("request refused (%s): %s", err.kind, err)
                self._error(401, err.kind, str(err))
                return
            try:
                msg = json.loads(body)
            except ValueError as err:
                self._error(400, "bad_request", f"body is not JSON: {err}")
                return
            if not isinstance(msg, dict):
                self._error(400, "bad_request", "body must be a JSON object")
                return
            if msg.get("protocol") != protocol.PROTOCOL:
                self._error(400, "unsupported_protocol",
                            f"protocol {msg.get('protocol')!r} is not supported; this worker speaks {protocol.PROTOCOL}")
                return
            if msg.get("evaluator") != worker.name:
                self._error(400, "wrong_evaluator", f"this worker is evaluator {worker.name!r}, "
                                                    f"not {msg.get('evaluator')!r}")
                return
            if msg.get("type") == "evaluation_cancel":
                if not isinstance(msg.get("job_id"), str):
                    self._error(400, "bad_request", "job_id: missing")
                    return
                self._send(*worker.cancel(msg))
                return
            errs = protocol.check_job(msg)
            if errs:
                self._error(400, "bad_request", "; ".join(errs))
                return
            status, obj = worker.submit(msg)
            self._send(status, obj, {"Retry-After": "30"} if status == 503 else None)

        def log_message(self, fmt, *args):
            log.debug("%s %s", self.address_string(), fmt % args)

    return Handler


def serve(worker, registration, host, port):
    """A started ThreadingHTTPServer (serve_forever on a daemon thread)."""
    httpd = http.server.ThreadingHTTPServer((host, port), make_handler(worker, registration))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, name="mqar-http", daemon=True).start()
    return httpd
