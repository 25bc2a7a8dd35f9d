"""Frappe's exceptions, as its request handler turns them into responses."""


class FrappeException(Exception):
    """An exception as Frappe's handler turns it into a response."""

    def __init__(self, status, exc_type, message=None, title="Message", body=None, server=True):
        super().__init__(message)
        self.status = status
        self.exc_type = exc_type
        self.message = message
        self.title = title
        self.body = body or {}
        self.server = server  # whether the message travels in _server_messages
