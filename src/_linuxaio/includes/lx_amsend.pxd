# The am_send slot (CPython >= 3.10), which Cython has no special method for:
# an awaitable whose type fills it completes through PyIter_Send without a
# coroutine frame or a StopIteration object. Used by _lines and _textsink.
from cpython.object cimport PyObject, PyTypeObject

cdef extern from "Python.h":
    ctypedef enum PySendResult:
        PYGEN_RETURN
        PYGEN_ERROR
        PYGEN_NEXT
    ctypedef PySendResult (*sendfunc)(PyObject *iter, PyObject *value, PyObject **result) noexcept

cdef extern from *:
    """
    /* Fill the am_send slot of a type that defines __await__ (so has tp_as_async). */
    static void lx_set_am_send(PyTypeObject *type, sendfunc send) { type->tp_as_async->am_send = send; }
    """
    void lx_set_am_send(PyTypeObject *type, sendfunc send)
