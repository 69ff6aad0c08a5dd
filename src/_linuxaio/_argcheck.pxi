# Argument checks shared by the compiled backends (included by linux_aio.pyx and
# thread_aio.pyx). Exact ints take a C fast path; anything else, or an invalid
# value, goes through _args, so every backend raises python_aio's errors.
#
# The including module provides: _args, PyLong_AsLongLongAndOverflow,
# PyObject_GetBuffer, PyBUF_SIMPLE, PyBUF_WRITABLE, int64_t.

cdef inline int _fd_arg(object fd) except -1:
    cdef int overflow = 0
    cdef long long value
    if type(fd) is int:
        value = PyLong_AsLongLongAndOverflow(fd, &overflow)
        if not overflow and 0 <= value <= 0x7fffffff:
            return <int>value
    return _args.check_fd(fd)


cdef inline int64_t _size_arg(object size, str name) except -1:
    cdef int overflow = 0
    cdef long long value
    if type(size) is int:
        value = PyLong_AsLongLongAndOverflow(size, &overflow)
        if not overflow and value >= 0:
            return value
    return _args.check_size(size, name)


cdef inline int _priority_arg(object priority) except -1:
    """``priority`` checked as an ioprio value (``_args.check_priority``)."""
    cdef int overflow = 0
    cdef long long value
    if type(priority) is int:
        value = PyLong_AsLongLongAndOverflow(priority, &overflow)
        if not overflow and 0 <= value <= 0xFFFF:
            return <int>value
    return _args.check_priority(priority)


cdef int _get_buffer(object obj, Py_buffer *view, bint writable, str name) except -1:
    """Hold a flat byte view of ``obj`` in ``view`` (released by the caller)."""
    cdef int flags = PyBUF_WRITABLE if writable else PyBUF_SIMPLE
    try:
        PyObject_GetBuffer(obj, view, flags)
        return 0
    except (TypeError, BufferError):
        pass
    # Not a buffer, read-only, or not flat: _args raises the shared error,
    # or returns a flat view (e.g. a C-contiguous buffer with a format).
    flat = _args.writable_view(obj, name) if writable else _args.readable_view(obj, name)
    PyObject_GetBuffer(flat, view, flags)
    return 0
