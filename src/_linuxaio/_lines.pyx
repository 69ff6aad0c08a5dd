"""Lines handed out to ``async for`` from memory, in C: the hot loop of ``aiofile``'s line iteration.

Not a backend and no I/O: plain CPython objects that ``aiofile``'s file
objects and ``LineReader`` use when this module is built (they fall back to
the same classes in pure Python, ``aiofile._lines``, when it is not).

``LineBatch`` holds the complete lines of one chunk (``str`` or ``bytes``)
between ``start`` and ``end`` (just after a separator) and hands them out
one by one (``take()``), tracking the position. ``AsyncLines`` is the
asynchronous iterator ``async for`` gets: while its ``batch`` holds lines,
``__anext__`` returns the iterator itself as an awaitable that completes at
once with the next line (through the ``am_send`` slot: no coroutine, no
generator frame, no ``StopIteration`` object per line); when the batch is
used up or stopped, it returns ``refill(self)``, the owner's coroutine,
which reads on, may set a new ``batch`` and returns the next line (or
raises ``StopAsyncIteration``).
"""

from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF

from lx_amsend cimport PYGEN_RETURN, PySendResult, lx_set_am_send


cdef extern from "string.h":
    void *memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen)

cdef extern from "Python.h":
    Py_ssize_t PyUnicode_Find(object s, object sub, Py_ssize_t start, Py_ssize_t end, int direction) except -2
    object PyUnicode_Substring(object s, Py_ssize_t start, Py_ssize_t end)
    object PyBytes_FromStringAndSize(const char *v, Py_ssize_t n)
    char *PyBytes_AS_STRING(object b)
    Py_ssize_t PyBytes_GET_SIZE(object b)


cdef class LineBatch:
    """The lines of ``chars[start:end]`` (``str`` or ``bytes``), each ending with ``sep``.

    ``end`` must be just after an occurrence of ``sep`` (the last complete
    line). ``take()`` returns the next line and advances ``position()``;
    ``stop()`` makes the batch give out nothing more. The caller keeps the
    incomplete rest of the chunk.
    """

    cdef readonly object chars
    cdef readonly object sep
    cdef Py_ssize_t pos
    cdef readonly Py_ssize_t end
    cdef bint is_bytes

    def __init__(self, chars, Py_ssize_t start, Py_ssize_t end, sep):
        if type(chars) is bytes:
            if type(sep) is not bytes:
                raise TypeError("sep must be bytes for bytes lines")
            self.is_bytes = True
            if not 0 <= start <= end <= PyBytes_GET_SIZE(chars):
                raise ValueError("start and end must satisfy 0 <= start <= end <= len(chars)")
        elif type(chars) is str:
            if type(sep) is not str:
                raise TypeError("sep must be str for str lines")
            self.is_bytes = False
            if not 0 <= start <= end <= len(<str>chars):
                raise ValueError("start and end must satisfy 0 <= start <= end <= len(chars)")
        else:
            raise TypeError(f"chars must be str or bytes, not {type(chars).__name__}")
        if not sep:
            raise ValueError("sep must not be empty")
        self.chars = chars
        self.sep = sep
        self.pos = start
        self.end = end

    def position(self):
        """Where the last line handed out ends (``start`` before the first)."""
        return self.pos

    def stop(self):
        """Give out nothing more."""
        self.pos = self.end

    def __len__(self):
        """Characters (bytes) not handed out yet."""
        return self.end - self.pos

    def take(self):
        """The next line (up to and including ``sep``); empty when the batch is used up."""
        return self._take()

    cdef object _take(self):
        cdef Py_ssize_t pos = self.pos
        cdef Py_ssize_t end = self.end
        cdef Py_ssize_t stop
        cdef Py_ssize_t seplen
        cdef const char *base
        cdef const char *hit
        if pos >= end:
            return self.chars[0:0]
        if self.is_bytes:
            base = PyBytes_AS_STRING(self.chars)
            seplen = PyBytes_GET_SIZE(self.sep)
            hit = <const char *>memmem(base + pos, <size_t>(end - pos), PyBytes_AS_STRING(self.sep), <size_t>seplen)
            stop = end if hit == NULL else <Py_ssize_t>(hit - base) + seplen
            self.pos = stop
            return PyBytes_FromStringAndSize(base + pos, stop - pos)
        seplen = len(<str>self.sep)
        stop = PyUnicode_Find(self.chars, self.sep, pos, end, 1)
        stop = end if stop < 0 else stop + seplen
        self.pos = stop
        return PyUnicode_Substring(self.chars, pos, stop)


cdef class AsyncLines:
    """The asynchronous iterator of ``async for line``: lines of ``batch`` from C, ``refill(self)`` otherwise.

    ``refill`` is a coroutine function taking this iterator; it returns the
    next line (and may set a new ``batch``) or raises
    ``StopAsyncIteration``. Awaiting what ``__anext__`` returns while the
    batch holds lines completes at once, without suspending.
    """

    cdef public LineBatch batch
    cdef object refill
    cdef object line

    def __init__(self, refill):
        self.refill = refill
        self.batch = None

    def __aiter__(self):
        return self

    def __anext__(self):
        cdef LineBatch batch = self.batch
        if batch is not None and batch.pos < batch.end:
            self.line = batch._take()
            return self
        return self.refill(self)

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        # Only when the interpreter does not use am_send (a tracer is set).
        line, self.line = self.line, None
        raise StopIteration(line)


cdef PySendResult _send(PyObject *self, PyObject *arg, PyObject **result) noexcept:
    # The awaitable completes at once with the line taken by __anext__.
    cdef AsyncLines lines = <AsyncLines>self
    line = lines.line
    lines.line = None
    Py_INCREF(line)
    result[0] = <PyObject *>line
    return PYGEN_RETURN


lx_set_am_send(<PyTypeObject *>AsyncLines, _send)
