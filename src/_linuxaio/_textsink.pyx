"""The write loop's fast path of ``aiofile``'s text file objects, in C.

Not a backend and no I/O: ``aiofile._text.TextFileWrapper.write`` is
``text_write`` when this module is built (it falls back to the same logic in
Python, ``TextFileWrapper._text_write_py``, when it is not).

``text_write(file, text)`` appends ``text``, UTF-8 encoded, to the file's
write buffer when the file's ``_text_sink`` is armed (a ``TextSink`` of that
very buffer, see ``_text.py``: UTF-8 strict, nothing to translate, nothing but
writes since the buffer was armed), the lock is free, the file is open and
``text`` is a ``str``. It then returns a ``Written``: an awaitable that
completes at once with ``len(text)``, with no coroutine or frame per call
(through the ``am_send`` slot where the interpreter uses it, as CPython
3.10-3.11's ``await`` does; 3.12+ calls ``__next__``, one ``StopIteration``
per await). When the buffer is full it returns ``file._flush_sink(length)``,
and in every other case ``file._write(text)``: coroutines that do the rest.

A ``Written`` also has ``send``, ``throw`` and ``close``, so
``asyncio.iscoroutine`` accepts it and ``asyncio.create_task(f.write(s))``
works as with a coroutine. The text is in the buffer when ``write`` returns
(as ``io.TextIOWrapper.write`` has it), not when the result is awaited.
"""

cimport cython
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF
from libc.string cimport memcpy

from lx_amsend cimport PYGEN_RETURN, PySendResult, lx_set_am_send


cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object s)
    void *PyUnicode_DATA(object s)
    Py_ssize_t PyUnicode_GET_LENGTH(object s)
    bytes PyUnicode_AsUTF8String(object s)
    char *PyBytes_AS_STRING(object b)
    Py_ssize_t PyBytes_GET_SIZE(object b)
    int PyByteArray_Resize(object b, Py_ssize_t n) except -1
    char *PyByteArray_AS_STRING(object b)
    Py_ssize_t PyByteArray_GET_SIZE(object b)


@cython.freelist(16)
@cython.final
cdef class Written:
    """What ``write`` returns when the text is already in the buffer: completes at once with ``count``."""

    cdef readonly object count

    def __init__(self, count):
        self.count = count

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        # Only when the interpreter does not use am_send (a tracer is set, or
        # CPython 3.12+'s SEND on a type other than a generator's).
        raise StopIteration(self.count)

    def send(self, value):
        """The coroutine protocol (``asyncio.Task`` drives what ``create_task`` got): completes with ``count``."""
        raise StopIteration(self.count)

    def throw(self, typ, val=None, tb=None):
        """The coroutine protocol: the exception is raised here (nothing is pending to clean up).

        As a generator's: ``throw(exc)``, ``throw(ExcType)`` or ``throw(ExcType, value)``.
        """
        if val is None:
            raise typ
        if isinstance(val, BaseException):
            raise val
        raise typ(val)

    def close(self):
        """The coroutine protocol: nothing to close."""


cdef PySendResult _send(PyObject *self, PyObject *arg, PyObject **result) noexcept:
    count = (<Written>self).count
    Py_INCREF(count)
    result[0] = <PyObject *>count
    return PYGEN_RETURN


lx_set_am_send(<PyTypeObject *>Written, _send)


cdef int _append_utf8(bytearray buffer, str text) except -1:
    """Append ``text`` encoded as UTF-8 (strict: a lone surrogate raises ``UnicodeEncodeError``)."""
    cdef const char *data
    cdef Py_ssize_t size, old
    cdef bytes encoded
    if PyUnicode_IS_ASCII(text):  # its characters are its UTF-8 bytes
        data = <const char *>PyUnicode_DATA(text)
        size = PyUnicode_GET_LENGTH(text)
    else:
        encoded = PyUnicode_AsUTF8String(text)
        data = PyBytes_AS_STRING(encoded)
        size = PyBytes_GET_SIZE(encoded)
    old = PyByteArray_GET_SIZE(buffer)
    PyByteArray_Resize(buffer, old + size)  # over-allocates: appends are amortised O(1)
    memcpy(PyByteArray_AS_STRING(buffer) + old, data, size)
    return 0


@cython.final
cdef class TextSink:
    """What a text file's ``_text_sink`` holds while ``write`` may append to its buffer directly.

    The buffer (the file's ``_wbuf`` when armed), its lock, its ``AIOFile`` and
    its size limit, kept in C fields: ``text_write`` then reads three
    attributes of Python objects per call, not seven.
    """

    cdef readonly bytearray buffer
    cdef readonly object lock
    cdef readonly object afp
    cdef readonly Py_ssize_t limit

    def __init__(self, bytearray buffer not None, lock, afp, Py_ssize_t limit):
        self.buffer = buffer
        self.lock = lock
        self.afp = afp
        self.limit = limit


def text_write(file, text):
    """``TextFileWrapper.write``: an awaitable of ``len(text)`` (see the module docstring).

    Cancellation: as ``TextFileWrapper._write`` (text taken by the fast path
    is in the buffer before anything can be cancelled).
    """
    cdef TextSink sink
    cdef Written done
    armed = file._text_sink
    if type(armed) is TextSink and type(text) is str:
        sink = <TextSink>armed
        if sink.buffer is file._wbuf and not sink.lock._locked and sink.afp._fd >= 0:
            _append_utf8(sink.buffer, <str>text)
            length = PyUnicode_GET_LENGTH(text)
            if PyByteArray_GET_SIZE(sink.buffer) >= sink.limit:
                return file._flush_sink(length)
            done = Written.__new__(Written)
            done.count = length
            return done
    return file._write(text)
