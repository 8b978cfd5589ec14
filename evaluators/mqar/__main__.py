"""hilsearch's reference evaluator: MQAR recall of a candidate's narrow copy.

    /usr/bin/python3 evaluators/mqar serve --listen 127.0.0.1:0 --secret-file S [--state-dir D] [--threads N]
    /usr/bin/python3 evaluators/mqar registration --url http://HOST:PORT/v1/jobs
    /usr/bin/python3 evaluators/mqar run SPEC.json [--settings JSON] [--seed N]
    /usr/bin/python3 evaluators/mqar experiment [--seeds 0,1,2,3,4] [--settings JSON]

serve prints one JSON line {"listening": URL, "registration": URL} on stdout
once it accepts requests, then logs to stderr. The webhook secret comes from
--secret-file (one secret per line: the first signs answers, all are accepted
on jobs; two lines while a secret is rotated) or the environment variable
HIL_EVALUATOR_SECRET. See docs/evaluators.md.
"""

import argparse
import json
import logging
import os
import signal
import statistics
import sys
import threading
import time

import evaluate
import model
import mqar_job
import server


def _secrets(args):
    if args.secret_file:
        with open(args.secret_file) as f:
            secrets = [line.strip() for line in f if line.strip()]
    else:
        secrets = [s for s in os.environ.get("HIL_EVALUATOR_SECRET", "").split(",") if s]
    if not secrets:
        sys.exit("mqar serve: no webhook secret (--secret-file or HIL_EVALUATOR_SECRET)")
    if any(len(s) < 16 for s in secrets):
        sys.exit("mqar serve: a webhook secret must be at least 16 characters")
    return secrets


def cmd_serve(args):
    host, _, port = args.listen.rpartition(":")
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    worker = server.Worker(args.name, _secrets(args), mqar_job.run, queue_size=args.queue, state_dir=args.state_dir)
    httpd = server.serve(worker, lambda url: mqar_job.registration(url, args.name), host or "127.0.0.1", int(port))
    h, p = httpd.server_address[:2]
    base = f"http://{h}:{p}"
    print(json.dumps({"listening": base + "/v1/jobs", "registration": base + "/v1/registration"}), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    httpd.shutdown()
    httpd.server_close()
    worker.close()


def cmd_registration(args):
    print(json.dumps(mqar_job.registration(args.url, args.name), indent=2))


def _settings(args):
    try:
        return evaluate.resolve_settings(json.loads(args.settings) if args.settings else {})
    except (ValueError, evaluate.SettingsError) as err:
        sys.exit(f"mqar: {err}")


def cmd_run(args):
    try:
        with open(args.spec) as f:
            spec = json.load(f)
        res = evaluate.evaluate(spec, _settings(args), args.seed)
    except (OSError, ValueError, model.UnsupportedMixer) as err:  # InvalidSpec is a ValueError
        sys.exit(f"mqar run: {err}")
    print(json.dumps(res, indent=2))


def experiment_spec(mixers, layers=4, hidden=512, ffn=1536):
    """The experiment's candidates: `layers` layers at LFM2-like shapes
    (head_dim 64, kv_heads = heads/2, QK-norm, RoPE 1e6, conv k=3, swa window 8,
    ssm state 64, expand 2, conv kernel 4); mixers
    is one mixer ("gqa") or a cycle of them ("conv/gqa": conv, gqa, conv, …)."""
    cycle = mixers.split("/")
    ls = []
    for i in range(layers):
        mixer = cycle[i % len(cycle)]
        layer = {"mixer": mixer, "ffn": ffn}
        if mixer == "conv":
            layer["conv"] = {"kernel": 3}
        elif mixer in ("gqa", "swa"):
            layer[mixer] = {"heads": hidden // 64, "kv_heads": hidden // 128, "head_dim": 64, "qk_norm": True,
                            "rope_theta": 1e6}
            if mixer == "swa":
                layer[mixer]["window"] = 8
        elif mixer == "linear_attn":
            layer[mixer] = {"heads": hidden // 64, "head_dim": 64}
        elif mixer == "ssm":
            layer[mixer] = {"heads": 2 * hidden // 64, "head_dim": 64, "state": 64, "expand": 2, "conv_kernel": 4}
        else:
            sys.exit(f"mqar experiment: unknown mixer {mixer!r}")
        ls.append(layer)
    name = f"all-{mixers}" if len(cycle) == 1 else "-".join(cycle)
    return {"name": f"{name}-{layers}", "vocab": 65536, "hidden": hidden, "tied_embeddings": True,
            "norm_eps": 1e-5, "max_context": 4096, "layers": ls}


def cmd_experiment(args):
    s = _settings(args)
    seeds = [int(x) for x in args.seeds.split(",")]
    rows = {}
    for seed in seeds:  # interleaved: both layouts per seed, so load drifts hit both
        for mixer in args.mixers.split(","):
            spec = experiment_spec(mixer, args.layers)
            t = time.monotonic()
            res = evaluate.evaluate(spec, s, seed)
            wall = time.monotonic() - t
            sc = res["scores"]
            rows.setdefault(spec["name"], []).append((sc["mqar_accuracy"], sc["mqar_loss"], wall))
            print(json.dumps({"layout": spec["name"], "seed": seed, **sc, "wall_seconds": round(wall, 1),
                              "narrow_params": res["details"]["narrow_params"]}), flush=True)
    print(json.dumps({"settings": s}))
    for name, r in rows.items():
        acc = [x[0] for x in r]
        loss = [x[1] for x in r]
        wall = [x[2] for x in r]
        sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
        print(f"{name}: accuracy mean {statistics.mean(acc):.4f} sd {sd:.4f} "
              f"min {min(acc):.4f} max {max(acc):.4f}; loss mean {statistics.mean(loss):.4f}; "
              f"wall median {statistics.median(wall):.1f} s (n={len(r)})")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="mqar", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log-level", default="info")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve", help="run the webhook worker")
    p.add_argument("--listen", default="127.0.0.1:0", help="host:port (port 0: any free port)")
    p.add_argument("--name", default=mqar_job.NAME, help="the evaluator's registered name")
    p.add_argument("--secret-file")
    p.add_argument("--state-dir", help="spool answers here until the coordinator took them")
    p.add_argument("--queue", type=int, default=16, help="most jobs waiting (more: 503)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    p.set_defaults(fn=cmd_serve)
    p = sub.add_parser("registration", help="print the registration message")
    p.add_argument("--url", required=True)
    p.add_argument("--name", default=mqar_job.NAME)
    p.set_defaults(fn=cmd_registration)
    p = sub.add_parser("run", help="evaluate one arch spec file locally (no protocol)")
    p.add_argument("spec")
    p.add_argument("--settings", help="JSON object overriding the reference settings")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("experiment", help="all-attention vs all-conv layouts over seeds")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--mixers", default="gqa,conv", help="comma-separated layouts: a mixer, or a cycle like conv/gqa")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--settings", help="JSON object overriding the reference settings")
    p.set_defaults(fn=cmd_experiment)
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args.fn(args)


if __name__ == "__main__":
    main()
