"""Issue 5 benchmark: webhook delivery through real Celery workers on PostgreSQL and Redis to
a local receiver (bench/webhook_receiver.py, which checks every signature).

(a) Burst: 10,000 events published while the workers are stopped, then drained; prints
    deliveries/s beside the rate at which the same receiver accepts the same signed requests
    from a plain keep-alive client in this run (target: >= 500 deliveries/s).
(b) Steady: an open loop of 100 events/s for 60 s with the workers running; prints p50/p95
    from publish to first attempt (target: p95 <= 1 s).

    .venv/bin/python -m bench.webhooks_burst [--events 10000] [--rate 100] [--seconds 60]
        [--workers 2] [--threads 16]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import threading
import time

import urllib3

from bench import webhooks_common as common


def baseline(gateway: common.Gateway, *, seconds: float, threads: int) -> float:
    """Requests/s the receiver accepts from a keep-alive client signing like the gateway."""
    pool = urllib3.HTTPConnectionPool("127.0.0.1", common.RECEIVER_PORT, maxsize=threads)
    paths = list(gateway.secrets)
    deadline = time.monotonic() + seconds
    counts = [0] * threads

    def client(slot: int) -> None:
        n = 0
        while time.monotonic() < deadline:
            path = paths[n % len(paths)]
            key = base64.b64decode(gateway.secrets[path].removeprefix("whsec_"))
            body = json.dumps(
                {"type": "referral.received", "timestamp": "now", "data": {"referral_id": n}},
                separators=(",", ":"),
            ).encode()
            msg_id, stamp = f"baseline_{slot}_{n}", str(int(time.time()))
            content = f"{msg_id}.{stamp}.".encode() + body
            signature = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
            headers = {
                "Content-Type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": stamp,
                "webhook-signature": f"v1,{signature}",
            }
            response = pool.urlopen("POST", path, body=body, headers=headers, retries=False)
            assert response.status == 200
            n += 1
        counts[slot] = n

    workers = [threading.Thread(target=client, args=(slot,)) for slot in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.monotonic() - started)


def percentile_latency(since: float) -> tuple[float, float, int]:
    [(p50, p95, count)] = common.sql(
        """
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),
               percentile_cont(0.95) WITHIN GROUP (ORDER BY lag),
               count(*)
        FROM (SELECT extract(epoch FROM a.at - e.created_at) AS lag
        FROM ecosystem_event e
        JOIN ecosystem_delivery d ON d.event_id = e.id
        JOIN ecosystem_deliveryattempt a ON a.delivery_id = d.id AND a.number = 1
        WHERE e.created_at >= to_timestamp(%s)) AS lags
        """,
        since,
    )
    return float(p50), float(p95), int(count)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--threads", type=int, default=16, help="threads per worker")
    args = parser.parse_args()

    gateway = common.setup()
    receiver = common.start_receiver(gateway)
    beat = common.start_beat(gateway)
    workers: list = []
    try:
        accepted = baseline(gateway, seconds=5, threads=args.threads)
        print(f"receiver, plain keep-alive client   {accepted:>8.0f} req/s", flush=True)

        published = common.publish(gateway, args.events, batch=100)
        print(f"published {args.events} events in {published:.1f} s (workers stopped)", flush=True)
        workers = common.start_workers(gateway, processes=args.workers, threads=args.threads)
        wall = common.wait_until_delivered(args.events, timeout=600)
        arrivals = sorted(
            at for at, msg_id, _ok in common.received(gateway) if msg_id.startswith("evt_")
        )
        rate = len(arrivals) / (arrivals[-1] - arrivals[0])
        print(
            f"burst, {args.workers} workers x {args.threads} threads   {rate:>8.0f} deliveries/s"
            f"   ({rate / accepted:.2f} of the plain client; {wall:.1f} s incl. worker start)",
            flush=True,
        )

        since = time.time()
        total = int(args.rate * args.seconds)
        common.publish(gateway, total, rate=args.rate)
        common.wait_until_delivered(args.events + total, timeout=300)
        p50, p95, count = percentile_latency(since)
        print(
            f"steady {args.rate:.0f} events/s for {args.seconds} s: publish -> first attempt "
            f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms ({count} events)",
            flush=True,
        )
        bad = sum(1 for _at, _id, ok in common.received(gateway) if ok != "ok")
        print(f"requests whose signature did not verify: {bad}")
    finally:
        for process in [*workers, beat, receiver]:
            common.stop(process)


if __name__ == "__main__":
    main()
