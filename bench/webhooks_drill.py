"""Issue 5 fault drill: kill the delivery workers with SIGKILL mid-batch and take the
receiver down for a while, then show that every event arrived at least once, with its
``webhook-id`` unchanged, and none was lost. PostgreSQL, Redis, real Celery workers and beat.

The retry schedule is compressed (WEBHOOK_RETRY_SCHEDULE below) so the drill takes about
two minutes instead of hours; everything else runs as in production.

    .venv/bin/python -m bench.webhooks_drill [--events 3000] [--outage 20]
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from collections import Counter

from bench import webhooks_common as common

DRILL_SETTINGS = {
    "WEBHOOK_RETRY_SCHEDULE": "0,1,2,4,8,8,8,8,8,8,8,8",
    "WEBHOOK_SWEEP_SECONDS": "2",
    "WEBHOOK_TIMEOUT_SECONDS": "5",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument(
        "--outage", type=float, default=20, help="least seconds the receiver is down"
    )
    args = parser.parse_args()

    gateway = common.setup(**DRILL_SETTINGS)
    receiver = common.start_receiver(gateway)
    beat = common.start_beat(gateway)
    workers = common.start_workers(gateway, processes=2, threads=16)
    processes = [beat, *workers]
    try:
        publisher = threading.Thread(
            target=common.publish, args=(gateway, args.events), kwargs={"batch": 20, "rate": 300}
        )
        started = time.monotonic()
        publisher.start()
        time.sleep(4)
        before = common.delivery_counts()
        for worker in workers:
            common.stop(worker, signal.SIGKILL)
        print(f"t={time.monotonic() - started:5.1f}s SIGKILL both workers; deliveries: {before}")
        common.stop(receiver)
        down_at = time.monotonic()
        print(f"t={down_at - started:5.1f}s receiver down")
        time.sleep(2)
        workers = common.start_workers(gateway, processes=2, threads=16)
        processes = [beat, *workers]
        print(f"t={time.monotonic() - started:5.1f}s workers restarted")
        publisher.join()
        print(f"t={time.monotonic() - started:5.1f}s all {args.events} events published")
        time.sleep(max(0.0, args.outage - (time.monotonic() - down_at)))
        print(f"t={time.monotonic() - started:5.1f}s deliveries: {common.delivery_counts()}")
        receiver = common.start_receiver(gateway)
        print(
            f"t={time.monotonic() - started:5.1f}s receiver back up after "
            f"{time.monotonic() - down_at:.0f} s down"
        )
        common.wait_until_delivered(args.events, timeout=600)
        print(f"t={time.monotonic() - started:5.1f}s deliveries: {common.delivery_counts()}")

        events = {event_id for (event_id,) in common.sql("SELECT id FROM ecosystem_event")}
        arrivals = common.received(gateway)
        ids = Counter(msg_id for _at, msg_id, _ok in arrivals)
        bad = sum(1 for _at, _id, ok in arrivals if ok != "ok")
        [(retried, max_attempts)] = common.sql(
            "SELECT count(*) FILTER (WHERE attempts > 1), max(attempts) FROM ecosystem_delivery"
        )
        print()
        print(f"events published                      {len(events)}")
        print(f"requests received                     {sum(ids.values())}")
        print(f"events received at least once         {len(events & set(ids))}")
        print(f"events never received (lost)          {len(events - set(ids))}")
        print(f"webhook-ids received that are no event {len(set(ids) - events)}")
        print(f"events received more than once        {sum(1 for n in ids.values() if n > 1)}")
        print(f"deliveries that needed a retry        {retried} (most attempts: {max_attempts})")
        print(f"requests whose signature failed       {bad}")
        ok = events == set(ids) and bad == 0
        print("RESULT: " + ("every event delivered, ids unchanged, none lost" if ok else "FAILED"))
    finally:
        for process in [*processes, receiver]:
            if process.poll() is None:
                common.stop(process)


if __name__ == "__main__":
    main()
