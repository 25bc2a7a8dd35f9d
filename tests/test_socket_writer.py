"""Engine.IO's WebSocket writer waits without a timer per packet (dashboard/socket_writer.py)."""

import queue
import threading
import time
from types import SimpleNamespace

import pytest
from engineio import exceptions
from engineio import socket as engineio_socket

from dashboard import socket_writer


def a_socket(upgraded: bool):
    server = SimpleNamespace(ping_interval=0.05, ping_timeout=0.05,
                             get_queue_empty_exception=lambda: queue.Empty)  # fmt: skip
    return SimpleNamespace(upgraded=upgraded, queue=queue.Queue(), server=server)


def test_a_websocket_writer_takes_every_packet_queued_and_ends_on_close():
    socket = a_socket(upgraded=True)
    for packet in ("a", "b", None):
        socket.queue.put(packet)
    assert socket_writer.poll(socket) == ["a", "b"]
    assert socket_writer.poll(socket) == []  # closed: the writer ends
    socket.queue.join()  # close(wait=True) waits on this: every packet was marked done


def test_a_websocket_writer_waits_past_the_ping_timeout_for_its_next_packet():
    socket = a_socket(upgraded=True)
    threading.Timer(0.3, socket.queue.put, args=("late",)).start()  # 3 × the stock timeout
    started = time.monotonic()
    assert socket_writer.poll(socket) == ["late"]
    assert time.monotonic() - started >= 0.25


def test_long_polling_keeps_the_stock_timeout():
    with pytest.raises(exceptions.QueueEmpty):
        socket_writer.poll(a_socket(upgraded=False))


def test_the_app_installs_it(app):
    assert engineio_socket.Socket.poll is socket_writer.poll
