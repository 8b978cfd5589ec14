"""Signatures, replay protection and job checks of the evaluator protocol."""

import json
import os
import unittest

import protocol

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "docs", "evaluators")
SECRET = b"hilwhs_test-secret-0123456789abcdef"


class Headers(dict):
    """A header mapping with case-insensitive get, like http.server's."""

    def get(self, k, default=None):
        for key, v in self.items():
            if key.lower() == k.lower():
                return v
        return default


def signed(body, secret=SECRET, now=1_800_000_000.0, delivery=None):
    return Headers(protocol.signed_headers([secret], body, now=now, delivery=delivery))


class SignatureTest(unittest.TestCase):
    def test_vectors(self):
        with open(os.path.join(DOCS, "signature-vectors.json")) as f:
            vectors = json.load(f)["vectors"]
        self.assertGreaterEqual(len(vectors), 3)
        for v in vectors:
            body = v["body"].encode()
            self.assertEqual(v["signed_string"].encode(), f"{v['timestamp']}.{v['delivery']}.".encode() + body)
            self.assertEqual(protocol.sign(v["secret"], v["timestamp"], v["delivery"], body), v["signature"])

    def test_fresh_request_is_accepted(self):
        body = b'{"x":1}'
        protocol.verify([SECRET], signed(body), body, protocol.ReplayCache(), now=1_800_000_000.0)

    def refused(self, kind, headers, body=b'{"x":1}', secrets=(SECRET,), now=1_800_000_000.0, replay=None):
        with self.assertRaises(protocol.AuthError) as cm:
            protocol.verify(list(secrets), headers, body, replay or protocol.ReplayCache(), now=now)
        self.assertEqual(cm.exception.kind, kind, str(cm.exception))

    def test_forgeries_are_refused(self):
        body = b'{"x":1}'
        h = signed(body)
        self.refused("unauthorized", h, secrets=[b"another-secret-0123456789"])
        self.refused("unauthorized", h, body=b'{"x":2}')
        for k, v in [(protocol.H_TIMESTAMP, str(int(h[protocol.H_TIMESTAMP]) + 1)),
                     (protocol.H_DELIVERY, "A" * 22),
                     (protocol.H_SIGNATURE, "v1=" + "0" * 64),
                     (protocol.H_SIGNATURE, "sha256=" + h[protocol.H_SIGNATURE][3:]),
                     (protocol.H_SIGNATURE, h[protocol.H_SIGNATURE].upper())]:
            forged = Headers(h)
            forged[k] = v
            self.refused("unauthorized", forged)
        for k in (protocol.H_TIMESTAMP, protocol.H_DELIVERY, protocol.H_SIGNATURE):
            missing = Headers(h)
            del missing[k]
            self.refused("unauthorized", missing)
        short = signed(body, delivery="short")
        self.refused("unauthorized", short)

    def test_stale_requests_are_refused(self):
        body = b"{}"
        now = 1_800_000_000.0
        protocol.verify([SECRET], signed(body, now=now - protocol.WINDOW), body, protocol.ReplayCache(), now=now)
        self.refused("stale", signed(body, now=now - protocol.WINDOW - 1), body=body, now=now)
        self.refused("stale", signed(body, now=now + protocol.WINDOW + 1), body=body, now=now)

    def test_replayed_request_is_refused(self):
        body = b"{}"
        cache = protocol.ReplayCache()
        h = signed(body)
        protocol.verify([SECRET], h, body, cache, now=1_800_000_000.0)
        self.refused("replayed", h, body=body, replay=cache, now=1_800_000_010.0)
        # Still refused at the end of the window, when the timestamp is still fresh.
        self.refused("replayed", h, body=body, replay=cache, now=1_800_000_000.0 + protocol.WINDOW)

    def test_forged_request_does_not_burn_a_delivery_id(self):
        body = b"{}"
        cache = protocol.ReplayCache()
        genuine = signed(body, delivery="D" * 20)
        forged = signed(body, secret=b"attacker-secret-0123456789", delivery="D" * 20)
        self.refused("unauthorized", forged, body=body, replay=cache)
        protocol.verify([SECRET], genuine, body, cache, now=1_800_000_000.0)

    def test_rotation_two_signatures_two_secrets(self):
        old, new = b"old-secret-0123456789abcdef", b"new-secret-0123456789abcdef"
        body = b'{"y":2}'
        h = Headers(protocol.signed_headers([new, old], body, now=1_800_000_000.0))
        self.assertEqual(h[protocol.H_SIGNATURE].count("v1="), 2)
        for secrets in ([old], [new], [new, old]):
            protocol.verify(secrets, h, body, protocol.ReplayCache(), now=1_800_000_000.0)
        self.refused("unauthorized", h, body=body, secrets=[b"third-secret-0123456789abc"])


class JobCheckTest(unittest.TestCase):
    def job(self, **over):
        j = {"protocol": 1, "type": "evaluation_job", "job_id": "e0123456789abcdef", "evaluator": "mqar",
             "arch": {"layers": []}, "arch_hash": "a" * 64, "seed": 0, "settings": {}, "settings_hash": "b" * 64,
             "created_at": "2026-12-01T10:00:00Z", "deadline": "2026-12-01T10:15:00.123456789+01:00",
             "callback_url": "http://127.0.0.1:8080/api/v1/evaluations/e0123456789abcdef/answer"}
        j.update(over)
        return j

    def test_valid_job(self):
        self.assertEqual(protocol.check_job(self.job()), [])

    def test_errors_name_fields(self):
        cases = [({"protocol": 2}, "protocol"), ({"seed": -1}, "seed"), ({"seed": True}, "seed"),
                 ({"job_id": "bad id"}, "job_id"), ({"deadline": "tomorrow"}, "deadline"),
                 ({"callback_url": "ftp://x"}, "callback_url"), ({"arch_hash": "XYZ"}, "arch_hash"),
                 ({"settings": []}, "settings"), ({"type": "evaluation_answer"}, "type")]
        for over, field in cases:
            errs = protocol.check_job(self.job(**over))
            self.assertTrue(errs and errs[0].startswith(field + ":"), (over, errs))
        j = self.job()
        del j["arch"]
        self.assertEqual(protocol.check_job(j), ["arch: missing"])

    def test_time_round_trip(self):
        self.assertEqual(protocol.parse_time("2026-12-01T10:00:00Z"), 1796119200.0)
        self.assertEqual(protocol.parse_time("2026-12-01T11:00:00.5+01:00"), 1796119200.5)
        self.assertEqual(protocol.parse_time(protocol.format_time(1796119200.25)), 1796119200.25)


if __name__ == "__main__":
    unittest.main()
