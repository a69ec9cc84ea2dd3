"""Fusion: ``nb.compile(fn)`` turns chains of elementwise ops into one generated Numba kernel.

How it works
------------
1. **Trace** (:mod:`nbgrad.fusion.tracing`). The first call with a new *signature* (the shapes,
   dtypes, ``requires_grad`` and aliasing of the tensor arguments, the values of the other
   arguments, and the grad mode) runs ``fn`` eagerly with a recorder as the active tracer of the
   dispatch point's tracing hook (``nbgrad/_tracing.py``): the dispatch point reports every op
   ``fn`` runs directly (not from inside another op), with its inputs, parameters, the grad mode
   it ran under and its result. That first call returns the eager results.
2. **Plan** (:mod:`nbgrad.fusion.planning`). Elementwise ops of the table
   (``ops/elementwise.py``) whose results have one common shape are grouped into connected
   chains; every other op (matmul, reductions, views, ...) stays an eager step, replayed through
   the dispatch point exactly as recorded. A chain of two or more ops becomes a
   :class:`FusedOp`.
3. **Kernels** (:mod:`nbgrad.fusion.codegen`). A fused op's forward is ONE generated ``@njit``
   loop that calls the table rows' scalar functions (compiled by Numba and inlined into the loop)
   with the same dtype casts as the eager ufuncs, so values are bit-for-bit those of the eager
   path; ``parallel=True`` above :data:`PARALLEL_MIN` elements. The backward is a SECOND
   generated kernel: the gradient rules of the table rows (written with nbgrad ops) are traced
   once on one-element tensors into scalar expressions, and the kernel recomputes the forward
   values it needs from the saved *inputs* (no intermediate is kept) and runs the chain's
   reverse sweep per element.
4. **Run** (:mod:`nbgrad.fusion.runtime`). Later calls with the same signature replay the plan:
   each fused op goes through the dispatch point like any op, so grad modes behave exactly as in
   eager code (``no_grad`` records nothing, ``inference_mode`` makes inference tensors) and a
   recorded fused op is ONE graph node, ``FusedBackward0``. With ``create_graph=True`` its
   backward falls back to the table's own gradient step on nbgrad ops (differentiable again);
   otherwise it runs the fused backward kernel.

Generated kernels are written to ``$NBGRAD_FUSION_DIR`` (default ``$NUMBA_CACHE_DIR/nbgrad_fused``
or ``~/.cache/nbgrad/fused``), named by a hash of their source, so Numba's on-disk cache serves
them to later processes.

What makes a function run eagerly instead (decided once per signature; see
:meth:`CompiledFunction.explain`): in-place ops, reading tensor values in Python (``item()``,
``tolist()``, ``numpy()``), tensors created inside the function by factories or ``detach()``,
changing the grad mode inside it, running backward or registering hooks inside it, op parameters
holding arrays (indexing with a tensor), tensors off the CPU. Python control flow is frozen at
trace time, as with ``torch.jit.trace``. Tensors reached through closures or globals are bound by
identity (guarded on shape, dtype and ``requires_grad``): pass tensors that are rebound between
calls as arguments.
"""

from nbgrad.fusion.runtime import PARALLEL_MIN, CompiledFunction, FusedOp, compile

__all__ = ["compile", "CompiledFunction", "FusedOp", "PARALLEL_MIN"]
