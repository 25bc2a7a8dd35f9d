"""Engine.IO's WebSocket writer without a timer per packet.

Every packet python-engineio sends is put on the socket's queue, and the socket's writer takes
it with `queue.get(timeout=ping_interval + ping_timeout)`: a timer started and stopped for
every packet. In the capacity profile (docs/benchmarks.md, section 7) that was a fifth of the
web process's CPU at 20,000 deliveries a second. A WebSocket's writer needs no timer: close()
puts None on the queue to end it, and Engine.IO's service task closes a socket whose client
stopped answering pings. So an upgraded socket waits without one; long-polling keeps the stock
poll, whose timeout ends each poll request.
"""

from engineio import socket as engineio_socket

STOCK_POLL = engineio_socket.Socket.poll


def poll(self):
    """Socket.poll, as python-engineio 4.x has it, minus the timeout for WebSockets."""
    if not self.upgraded:
        return STOCK_POLL(self)
    packets = [self.queue.get()]
    self.queue.task_done()
    if packets == [None]:
        return []
    empty = self.server.get_queue_empty_exception()
    while True:
        try:
            packet = self.queue.get(block=False)
        except empty:
            return packets
        self.queue.task_done()
        if packet is None:
            self.queue.put(None)  # the next poll ends the writer, as the stock one does
            return packets
        packets.append(packet)


def install() -> None:
    engineio_socket.Socket.poll = poll
