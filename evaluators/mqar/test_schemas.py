"""The JSON Schemas of docs/evaluators/ against the examples on
docs/evaluators.md, broken messages, and the worker's real messages."""

import copy
import json
import os
import re
import time
import unittest

import mqar_job
import protocol
import schemacheck

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "docs")
BY_TYPE = {"evaluator_registration": "registration", "evaluation_job": "job", "evaluation_answer": "answer",
           "evaluation_cancel": "cancel"}


def schema(name):
    with open(os.path.join(DOCS, "evaluators", name + ".schema.json")) as f:
        return json.load(f)


def doc_examples():
    """Every ```json block of docs/evaluators.md that is a protocol message."""
    with open(os.path.join(DOCS, "evaluators.md")) as f:
        text = f.read()
    out = []
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        msg = json.loads(block)
        if isinstance(msg, dict) and "protocol" in msg:
            out.append(msg)
    return out


class SchemaTest(unittest.TestCase):
    def valid(self, name, msg):
        errs = schemacheck.errors(schema(name), msg)
        self.assertEqual(errs, [], json.dumps(msg)[:300])

    def invalid(self, name, msg, fragment):
        errs = schemacheck.errors(schema(name), msg)
        self.assertTrue(any(fragment in e for e in errs), (fragment, errs))

    def test_doc_examples_validate(self):
        examples = doc_examples()
        types = [m["type"] for m in examples]
        for t in BY_TYPE:
            self.assertIn(t, types, "docs/evaluators.md has no example of " + t)
        for m in examples:
            self.valid(BY_TYPE[m["type"]], m)

    def test_broken_messages_are_invalid(self):
        ex = {m["type"] + "/" + m.get("status", ""): m for m in doc_examples()}
        ok = ex["evaluation_answer/ok"]
        failed = ex["evaluation_answer/failed"]
        reg = ex["evaluator_registration/"]
        job = ex["evaluation_job/"]
        m = copy.deepcopy(ok)
        del m["scores"]
        self.invalid("answer", m, "missing 'scores'")
        m = copy.deepcopy(ok)
        m["error"] = failed["error"]
        self.invalid("answer", m, "must not match")
        m = copy.deepcopy(failed)
        m["error"]["kind"] = "oops"
        self.invalid("answer", m, "not in")
        m = copy.deepcopy(ok)
        m["scores"]["Bad-Name"] = 1
        self.invalid("answer", m, "does not match")
        m = copy.deepcopy(ok)
        m["scores"]["mqar_loss"] = "low"
        self.invalid("answer", m, "expected number")
        m = copy.deepcopy(reg)
        del m["url"]
        self.invalid("registration", m, "missing 'url'")
        m = copy.deepcopy(reg)
        m["scores"][0]["direction"] = "up"
        self.invalid("registration", m, "not in")
        m = copy.deepcopy(reg)
        m["transport"] = "nats"
        self.invalid("registration", m, "must not match")  # a NATS evaluator has no url
        m = copy.deepcopy(job)
        m["seed"] = -1
        self.invalid("job", m, "below")
        m = copy.deepcopy(job)
        m["deadline"] = "tomorrow"
        self.invalid("job", m, "does not match")
        m = copy.deepcopy(job)
        m["protocol"] = 2
        self.invalid("job", m, "must be 1")

    def test_doc_job_example_passes_the_workers_check(self):
        job = [m for m in doc_examples() if m["type"] == "evaluation_job"][0]
        self.assertEqual(protocol.check_job(job), [])

    def test_worker_messages_validate(self):
        self.valid("registration", mqar_job.registration("http://127.0.0.1:8765/v1/jobs"))
        now = time.time()
        job = {"protocol": 1, "type": "evaluation_job", "job_id": "e1", "evaluator": "mqar",
               "arch": {"vocab": 64, "hidden": 64, "tied_embeddings": True, "norm_eps": 1e-5, "max_context": 64,
                        "layers": [{"mixer": "gqa", "gqa": {"heads": 4, "kv_heads": 2, "head_dim": 16,
                                                            "qk_norm": True, "rope_theta": 1e6}, "ffn": 64}]},
               "arch_hash": "a" * 64, "seed": 3, "settings_hash": "b" * 64,
               "settings": {"width_factor": 0.25, "vocab": 16, "seq_len": 16, "kv_pairs": 2, "steps": 5,
                            "batch_size": 4, "warmup_steps": 1, "eval_examples": 8, "threads": 1},
               "created_at": protocol.format_time(now), "deadline": protocol.format_time(now + 600)}
        self.valid("job", job)
        ok = mqar_job.run(job, lambda: False)
        self.assertEqual(ok["status"], "ok", ok.get("error"))
        self.valid("answer", ok)
        bad = dict(job, settings={"steps": "many"})
        failed = mqar_job.run(bad, lambda: False)
        self.assertEqual(failed["error"]["kind"], "invalid_settings")
        self.valid("answer", failed)


if __name__ == "__main__":
    unittest.main()
