"""The webhook worker over real HTTP: signed jobs in, signed answers out.

The coordinator's side is played by CoordinatorStandIn, a small HTTP
server in this file that verifies the answers' signatures as the
coordinator must (docs/evaluators.md §4.4) and records them.
"""

import http.server
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

import mqar_job
import protocol
import server

SECRET = "hilwhs_test-secret-0123456789abcdef"


def setUpModule():
    # The worker logs refused requests and answers as warnings; the tests
    # provoke many of them on purpose.
    logging.getLogger("mqar").setLevel(logging.ERROR)


class CoordinatorStandIn:
    """Receives answer callbacks; replies with the statuses queued in
    `replies` (200 once it is empty)."""

    def __init__(self):
        self.answers = queue.Queue()
        self.refused = []
        self.replies = []
        self.replay = protocol.ReplayCache()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    protocol.verify([SECRET], self.headers, body, outer.replay)
                except protocol.AuthError as err:
                    outer.refused.append(err.kind)
                    self._reply(401, {"code": err.kind, "message": str(err)})
                    return
                status = outer.replies.pop(0) if outer.replies else 200
                if status == 200:
                    outer.answers.put((self.path, json.loads(body), dict(self.headers)))
                self._reply(status, {"state": "stored"} if status == 200 else {"code": "x", "message": "x"})

            def _reply(self, status, obj):
                b = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                self.wfile.write(b)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def next_answer(self, timeout=20):
        return self.answers.get(timeout=timeout)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeRun:
    """A trivial run_job: answers at once, or once `gate` is set (an
    Event), counting runs."""

    def __init__(self, gate=None, retryable_failures=0):
        self.runs = []
        self.gate = gate
        self.retryable_failures = retryable_failures

    def __call__(self, job, should_stop):
        self.runs.append(job["job_id"])
        while self.gate is not None and not self.gate.wait(0.01):
            if should_stop():
                return protocol.answer_failed(job, "t", "cancelled", "stopped")
        if self.retryable_failures:
            self.retryable_failures -= 1
            return protocol.answer_failed(job, "t", "internal", "flaky", retryable=True)
        return protocol.answer_ok(job, "t", {"mqar_accuracy": 0.5, "mqar_loss": 1.0})


def wait_for(cond, timeout=20.0):
    """Polls cond until it is true; fails the test after timeout."""
    end = time.time() + timeout
    while not cond():
        if time.time() > end:
            raise AssertionError("condition not met within %.0f s" % timeout)
        time.sleep(0.02)


def make_job(callback, job_id="e0000000000000001", **over):
    now = time.time()
    j = {"protocol": 1, "type": "evaluation_job", "job_id": job_id, "evaluator": "mqar",
         "arch": {"vocab": 64, "hidden": 64, "tied_embeddings": True, "norm_eps": 1e-5, "max_context": 64,
                  "layers": [{"mixer": "conv", "conv": {"kernel": 3}, "ffn": 0}]},
         "arch_hash": "a" * 64, "seed": 1, "settings": {}, "settings_hash": "b" * 64,
         "created_at": protocol.format_time(now), "deadline": protocol.format_time(now + 600),
         "callback_url": f"{callback}/api/v1/evaluations/{job_id}/answer"}
    j.update(over)
    return j


class ServerTest(unittest.TestCase):
    def setUp(self):
        self.coord = CoordinatorStandIn()
        self.addCleanup(self.coord.close)

    def start(self, run, **kw):
        w = server.Worker("mqar", [SECRET], run, **kw)
        httpd = server.serve(w, lambda url: mqar_job.registration(url), "127.0.0.1", 0)
        self.addCleanup(w.close)
        self.addCleanup(httpd.server_close)
        self.addCleanup(httpd.shutdown)
        return w, "http://127.0.0.1:%d" % httpd.server_address[1]

    def post(self, url, body, headers=None, secret=SECRET):
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        h = headers if headers is not None else protocol.signed_headers([secret], body)
        req = urllib.request.Request(url + "/v1/jobs", data=body, headers=h, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read()), h
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read()), h

    def test_job_acknowledged_then_answered_with_signed_callback(self):
        run = FakeRun()
        _, url = self.start(run)
        job = make_job(self.coord.url)
        status, reply, _ = self.post(url, job)
        self.assertEqual((status, reply), (202, {"job_id": job["job_id"], "state": "accepted"}))
        path, answer, headers = self.coord.next_answer()
        self.assertEqual(path, f"/api/v1/evaluations/{job['job_id']}/answer")
        self.assertEqual(answer["status"], "ok")
        self.assertEqual(answer["job_id"], job["job_id"])
        self.assertIn("Hil-Signature", headers)
        self.assertEqual(self.coord.refused, [])

    def test_forged_and_replayed_jobs_are_refused_and_change_nothing(self):
        run = FakeRun()
        w, url = self.start(run)
        job = make_job(self.coord.url)
        body = json.dumps(job).encode()
        status, reply, _ = self.post(url, body, secret="not-the-secret-0123456789")
        self.assertEqual((status, reply["code"]), (401, "unauthorized"))
        tampered = protocol.signed_headers([SECRET], body)
        status, reply, _ = self.post(url, body.replace(b'"seed": 1', b'"seed": 2'), headers=tampered)
        self.assertEqual((status, reply["code"]), (401, "unauthorized"))
        old = protocol.signed_headers([SECRET], body, now=time.time() - protocol.WINDOW - 5)
        status, reply, _ = self.post(url, body, headers=old)
        self.assertEqual((status, reply["code"]), (401, "stale"))
        time.sleep(0.3)
        self.assertEqual(run.runs, [])  # nothing ran
        self.assertTrue(self.coord.answers.empty())
        status, _, h = self.post(url, body)
        self.assertEqual(status, 202)
        status, reply, _ = self.post(url, body, headers=h)  # the same request again
        self.assertEqual((status, reply["code"]), (401, "replayed"))
        self.coord.next_answer()
        time.sleep(0.3)
        self.assertEqual(run.runs, [job["job_id"]])
        self.assertTrue(self.coord.answers.empty())

    def test_redelivery_runs_once_and_resends_the_answer(self):
        gate = threading.Event()
        run = FakeRun(gate=gate)
        _, url = self.start(run)
        job = make_job(self.coord.url)
        self.assertEqual(self.post(url, job)[1]["state"], "accepted")
        state = self.post(url, job)[1]["state"]  # a retry by the coordinator: new delivery, same job
        self.assertIn(state, {"queued", "running"})
        gate.set()
        first = self.coord.next_answer()[1]
        status, reply, _ = self.post(url, job)
        self.assertEqual((status, reply["state"]), (202, "done"))
        again = self.coord.next_answer()[1]  # the answer is sent again
        self.assertEqual(first, again)
        self.assertEqual(run.runs, [job["job_id"]])
        changed = dict(job, seed=99)
        status, reply, _ = self.post(url, changed)
        self.assertEqual((status, reply["code"]), (409, "conflict"))

    def test_retryable_failure_is_run_again_on_redelivery(self):
        run = FakeRun(retryable_failures=1)
        _, url = self.start(run)
        job = make_job(self.coord.url)
        self.post(url, job)
        a = self.coord.next_answer()[1]
        self.assertEqual((a["status"], a["error"]["retryable"]), ("failed", True))
        self.assertEqual(self.post(url, job)[1]["state"], "accepted")
        self.assertEqual(self.coord.next_answer()[1]["status"], "ok")
        self.assertEqual(run.runs, [job["job_id"]] * 2)

    def test_callback_retried_until_taken(self):
        self.coord.replies = [503, 500]
        _, url = self.start(FakeRun())
        t = time.time()
        self.post(url, make_job(self.coord.url))
        self.assertEqual(self.coord.next_answer(timeout=30)[1]["status"], "ok")
        self.assertGreaterEqual(time.time() - t, 2.5)  # backoff 1 s, then 2 s
        self.assertEqual(self.coord.refused, [])

    def test_answer_survives_worker_restart(self):
        self.coord.replies = [503] * 100
        state = tempfile.mkdtemp()
        w, url = self.start(FakeRun(), state_dir=state)
        job = make_job(self.coord.url)
        self.post(url, job)
        wait_for(lambda: w._jobs[job["job_id"]].state == "done")
        w.close()
        self.coord.replies = []
        run2 = FakeRun()
        w2, url2 = self.start(run2, state_dir=state)
        self.assertEqual(self.coord.next_answer()[1]["job_id"], job["job_id"])
        self.assertEqual(self.post(url2, job)[1]["state"], "done")  # known, not run again
        self.assertEqual(run2.runs, [])

    def test_protocol_errors(self):
        _, url = self.start(FakeRun())
        for over, code in [({"protocol": 2}, "unsupported_protocol"), ({"evaluator": "other"}, "wrong_evaluator"),
                           ({"seed": "x"}, "bad_request")]:
            status, reply, _ = self.post(url, make_job(self.coord.url, **over))
            self.assertEqual((status, reply["code"]), (400, code), reply)
        status, reply, _ = self.post(url, b"not json")
        self.assertEqual((status, reply["code"]), (400, "bad_request"))

    def test_cancel_stops_a_running_job_without_answer(self):
        run = FakeRun(gate=threading.Event())
        w, url = self.start(run)
        job = make_job(self.coord.url)
        self.post(url, job)
        wait_for(lambda: w.running == job["job_id"])
        cancel = {"protocol": 1, "type": "evaluation_cancel", "job_id": job["job_id"], "evaluator": "mqar",
                  "reason": "search cancelled"}
        status, reply, _ = self.post(url, cancel)
        self.assertEqual((status, reply["state"]), (202, "cancelled"))
        wait_for(lambda: w.running is None)
        with self.assertRaises(queue.Empty):
            self.coord.next_answer(timeout=1)

    def test_queue_full_is_503(self):
        w, url = self.start(FakeRun(gate=threading.Event()), queue_size=1)
        self.post(url, make_job(self.coord.url, job_id="e1"))
        wait_for(lambda: w.running == "e1")  # e1 runs, the queue is empty again
        self.assertEqual(self.post(url, make_job(self.coord.url, job_id="e2"))[0], 202)
        status, reply, _ = self.post(url, make_job(self.coord.url, job_id="e3"))
        self.assertEqual((status, reply["code"]), (503, "busy"))

    def test_registration_and_health(self):
        _, url = self.start(FakeRun())
        with urllib.request.urlopen(url + "/v1/registration") as r:
            reg = json.loads(r.read())
        self.assertEqual(reg["url"], url + "/v1/jobs")
        self.assertEqual([s["name"] for s in reg["scores"]], ["mqar_accuracy", "mqar_loss"])
        with urllib.request.urlopen(url + "/healthz") as r:
            self.assertEqual(json.loads(r.read())["status"], "ok")


TINY = {"width_factor": 0.25, "vocab": 16, "seq_len": 16, "kv_pairs": 2, "steps": 30, "batch_size": 8,
        "warmup_steps": 3, "eval_examples": 32, "curve_points": 5, "threads": 1}


class RealEvaluatorTest(unittest.TestCase):
    """The MQAR job behind the webhook, with a tiny configuration."""

    def setUp(self):
        self.coord = CoordinatorStandIn()
        self.addCleanup(self.coord.close)
        self.w = server.Worker("mqar", [SECRET], mqar_job.run)
        self.addCleanup(self.w.close)
        httpd = server.serve(self.w, mqar_job.registration, "127.0.0.1", 0)
        self.addCleanup(httpd.server_close)
        self.addCleanup(httpd.shutdown)
        self.url = "http://127.0.0.1:%d/v1/jobs" % httpd.server_address[1]

    def ask(self, job):
        body = json.dumps(job).encode()
        req = urllib.request.Request(self.url, data=body, headers=protocol.signed_headers([SECRET], body),
                                     method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(r.status, 202)
        return self.coord.next_answer(timeout=120)[1]

    def test_scores(self):
        a = self.ask(make_job(self.coord.url, settings=TINY))
        self.assertEqual(a["status"], "ok", a.get("error"))
        self.assertEqual(set(a["scores"]), {"mqar_accuracy", "mqar_loss"})
        self.assertTrue(0 <= a["scores"]["mqar_accuracy"] <= 1)
        self.assertEqual(a["evaluator_version"], mqar_job.evaluate.VERSION)
        self.assertEqual(len(a["curves"]["train_loss"]["x"]), 5)

    def test_lacking_mixer_is_named(self):
        arch = make_job("")["arch"]
        arch["layers"].append({"mixer": "deltanet", "deltanet": {"heads": 2}, "ffn": 0})
        a = self.ask(make_job(self.coord.url, arch=arch, settings=TINY))
        self.assertEqual(a["status"], "failed")
        self.assertEqual(a["error"], {"kind": "unsupported", "retryable": False,
                                      "message": "layers[1].mixer: mixer 'deltanet' is not implemented by this "
                                                 "evaluator"})

    def test_invalid_settings_and_spec(self):
        a = self.ask(make_job(self.coord.url, job_id="e2", settings={"steps": 0, "colour": "red"}))
        self.assertEqual(a["error"]["kind"], "invalid_settings")
        self.assertIn("settings.steps: must be in [1, 1000000], got 0", a["error"]["message"])
        self.assertIn("settings.colour: unknown setting", a["error"]["message"])
        arch = make_job("")["arch"]
        arch["layers"][0] = {"mixer": "gqa", "gqa": {"heads": 3, "kv_heads": 2, "head_dim": 16, "rope_theta": 1e4},
                             "ffn": 0}
        a = self.ask(make_job(self.coord.url, job_id="e3", arch=arch, settings=TINY))
        self.assertEqual(a["error"]["kind"], "invalid_job")
        self.assertIn("arch.layers[0].gqa.kv_heads: 2 does not divide heads 3", a["error"]["message"])

    def test_deadline_passed(self):
        past = protocol.format_time(time.time() - 1)
        a = self.ask(make_job(self.coord.url, job_id="e4", deadline=past, settings=TINY))
        self.assertEqual(a["error"]["kind"], "timeout")


class CommandTest(unittest.TestCase):
    """`mqar serve` as the coordinator will start it: a process that prints
    where it listens, serves signed jobs and stops cleanly on SIGTERM."""

    def test_serve(self):
        coord = CoordinatorStandIn()
        self.addCleanup(coord.close)
        with tempfile.NamedTemporaryFile("w", suffix=".secret", delete=False) as f:
            f.write(SECRET + "\n")
        self.addCleanup(os.remove, f.name)
        here = os.path.dirname(os.path.abspath(__file__))
        proc = subprocess.Popen([sys.executable, here, "serve", "--listen", "127.0.0.1:0", "--secret-file", f.name],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        first = json.loads(proc.stdout.readline())
        with urllib.request.urlopen(first["registration"], timeout=10) as r:
            reg = json.loads(r.read())
        self.assertEqual((reg["name"], reg["url"]), ("mqar", first["listening"]))
        job = make_job(coord.url, settings=TINY)
        body = json.dumps(job).encode()
        req = urllib.request.Request(first["listening"], data=body, method="POST",
                                     headers=protocol.signed_headers([SECRET], body))
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(r.status, 202)
        self.assertEqual(coord.next_answer(timeout=120)[1]["status"], "ok")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=30), 0)
        proc.stdout.close()
        proc.stderr.close()

    def test_serve_needs_a_secret(self):
        here = os.path.dirname(os.path.abspath(__file__))
        env = {k: v for k, v in os.environ.items() if k != "HIL_EVALUATOR_SECRET"}
        out = subprocess.run([sys.executable, here, "serve"], capture_output=True, text=True, env=env, timeout=60)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("no webhook secret", out.stderr)


if __name__ == "__main__":
    unittest.main()
