"""Under the deployed server (gunicorn + gevent), a slow Frappe stalls nobody else."""

import threading

from .conftest import web_login


def test_slow_outlet_does_not_stall_other_pages(web_server, frappe_http):
    http = web_login(web_server, "Administrator", "admin")
    # Warm the permission and figures of the outlet we will read while Frappe is slow.
    assert http.get(web_server + "/api/outlets/OUTLET-001/summary", timeout=10).ok
    frappe_http.as_service("POST", "/api/method/frappe_sim.set_delay", json={"seconds": 3})
    try:
        order = []
        slow_started = threading.Event()

        def slow():
            slow_started.set()
            http.get(web_server + "/api/outlets/T.%20Nagar/summary?period=monthly", timeout=30)
            order.append("slow")

        thread = threading.Thread(target=slow)
        thread.start()
        slow_started.wait(5)
        fast = http.get(web_server + "/api/outlets/OUTLET-001/summary", timeout=30)
        order.append("fast")
        assert fast.ok and fast.json()["stale"] is False
        thread.join(30)
        assert order == ["fast", "slow"]
    finally:
        frappe_http.as_service("POST", "/api/method/frappe_sim.set_delay", json={"seconds": 0})
