"""The benchmark harness cannot rot: scenario 1 at a tiny size, against the real stack."""

from bench import capacity, fanout, pace, queue, replay, socket_memory


def test_fanout_smoke():
    table = fanout.scenario(["eventlet", "baseline"], clients=20, rooms=5, rate=20, seconds=2,
                            runs=1)  # fmt: skip
    ours, broadcast = table["eventlet"]["runs"][0], table["baseline"]["runs"][0]
    assert ours["connected"] == 20 and ours["subscribed"] == 20
    assert ours["delivered"] == ours["expected"] == 40 * 4  # each event reaches its room's 4
    assert ours["misrouted"] == 0 and ours["p99"] is not None
    # The broadcast baseline sends every client every outlet's sales: the leak, measured.
    assert broadcast["delivered"] == 20 * 40 and broadcast["misrouted"] == 20 * 32
    assert "| eventlet |" in fanout.markdown(table, "smoke")


def test_pace_and_quiet_ask_frappe_once_per_outlet(tmp_path):
    table = pace.scenario(outlets=5, tmp=tmp_path, rounds=2, browsers=2)
    assert table["summaries"] == table["with_pace"] == 5 * 2 * 2
    # The day once per outlet, and the person's right to it once per outlet, however many views.
    assert table["pace_calls"] == 5 + 5
    assert table["quiet_calls"] == table["site_outlets"]  # the bridge: each outlet of the site
    assert "| 5 |" in pace.markdown(table, "smoke")


def test_the_message_queue_delivers_every_message_to_every_web_process():
    rows = queue.scenario(seconds=0.5, layouts=[(1, 2)])
    assert rows[0]["published_per_s"] > 0 and rows[0]["lost"] == 0
    assert rows[0]["delivered_per_s"] == 2 * rows[0]["published_per_s"]
    assert "| 1 | 2 |" in queue.markdown(rows, "smoke")


def test_capacity_smoke():
    table = capacity.scenario(clients=20, seconds=1, modes=["gevent"], rates=[5, 10])
    steps = table["gevent"]["steps"]
    assert [step["rate"] for step in steps] == [5, 10]
    assert all(step["delivered_pct"] == 100.0 for step in steps)
    assert table["gevent"]["capacity"] is steps[-1]  # 200 deliveries a second keep up
    # Measured, though it may read 0: 200 deliveries cost less than the kernel's 10 ms CPU tick.
    assert steps[-1]["cpu_us_per_delivery"] is not None
    assert steps[-1]["deliveries_per_s"] == 200
    assert "(capacity)" in capacity.markdown(table, "smoke")


def test_socket_memory_accounts_for_the_workers_memory(capsys):
    socket_memory.main(20, trace=True, batch=10)
    report = capsys.readouterr().out
    assert "20 sockets, KiB per socket:" in report
    assert "glibc: in_use" in report and "pymalloc: arenas" in report
    assert "bytes per socket by lineno:" in report


def test_replay_smoke(tmp_path):
    table = replay.scenario(sales=20, screens=3, tmp=tmp_path)
    assert table["message_kb"] > 200 and 0 < table["replay_kb"] <= 64
    assert table["rss_peak_mb"] >= table["rss_before_mb"] > 0
    assert "| 20 | 3 |" in replay.markdown(table, "smoke")
