"""``Module``: the base class of every layer and model."""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator

from nbgrad._dtype import as_dtype
from nbgrad.autograd.function import Function
from nbgrad.grad_mode import no_grad
from nbgrad.nn.parameter import Parameter
from nbgrad.tensor import Tensor, parse_to_args

__all__ = ["Module", "IncompatibleKeys", "RemovableHandle", "register_module_forward_pre_hook",
           "register_module_forward_hook", "register_module_full_backward_hook",
           "register_module_full_backward_pre_hook"]


class RemovableHandle:
    """What the ``register_*_hook`` methods return: ``remove()`` unregisters the hook (also
    usable as a context manager).

    >>> import nbgrad as nb
    >>> m = nb.nn.Identity()
    >>> with m.register_forward_hook(lambda mod, args, out: out * 2):
    ...     m(nb.tensor([1.0]))
    tensor([2.])
    >>> m(nb.tensor([1.0]))
    tensor([1.])
    """

    _next_id = 0

    def __init__(self, hooks_dict: dict, *, extra_dict=None) -> None:
        self.hooks_dict_ref = hooks_dict
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1
        self.extra_dict_ref = [] if extra_dict is None else (
            extra_dict if isinstance(extra_dict, list) else [extra_dict])

    def remove(self) -> None:
        """Unregister the hook (a second call does nothing).

        >>> import nbgrad as nb
        >>> h = nb.nn.Identity().register_forward_pre_hook(lambda m, a: None)
        >>> h.remove(); h.remove()
        """
        self.hooks_dict_ref.pop(self.id, None)
        for d in self.extra_dict_ref:
            if isinstance(d, set):
                d.discard(self.id)
            else:
                d.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def _hook_table(module, name: str) -> OrderedDict:
    d = module.__dict__.get(name)
    if d is None:
        d = OrderedDict()
        object.__setattr__(module, name, d)
    return d


def _add_hook(table: OrderedDict, hook, prepend: bool, handle: RemovableHandle) -> None:
    table[handle.id] = hook
    if prepend:
        table.move_to_end(handle.id, last=False)


class IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict(strict=False)`` could not match."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


_GLOBAL: dict = {"forward_pre": OrderedDict(), "forward": OrderedDict(), "forward_kw": set(),
                 "forward_always": set(), "backward": OrderedDict(), "backward_pre": OrderedDict()}
_GLOBAL_TABLES = (_GLOBAL["forward_pre"], _GLOBAL["forward"], _GLOBAL["backward"],
                  _GLOBAL["backward_pre"])


def _global_handle(table: str, hook, extra=None) -> RemovableHandle:
    handle = RemovableHandle(_GLOBAL[table], extra_dict=extra)
    _GLOBAL[table][handle.id] = hook
    return handle


def register_module_forward_pre_hook(hook) -> RemovableHandle:
    """A forward pre-hook for every module (run before each module's own).

    >>> import nbgrad as nb
    >>> from nbgrad.nn.modules.module import register_module_forward_pre_hook
    >>> with register_module_forward_pre_hook(lambda m, args: (args[0] * 2,)):
    ...     nb.nn.Identity()(nb.tensor([1.0]))
    tensor([2.])
    """
    return _global_handle("forward_pre", hook)


def register_module_forward_hook(hook, *, with_kwargs: bool = False,
                                 always_call: bool = False) -> RemovableHandle:
    """A forward hook for every module (run before each module's own).

    >>> import nbgrad as nb
    >>> from nbgrad.nn.modules.module import register_module_forward_hook
    >>> names = []
    >>> with register_module_forward_hook(lambda m, a, out: names.append(type(m).__name__)):
    ...     _ = nb.nn.Sequential(nb.nn.ReLU())(nb.ones(1))
    >>> names
    ['ReLU', 'Sequential']
    """
    handle = _global_handle("forward", hook, [_GLOBAL["forward_kw"], _GLOBAL["forward_always"]])
    if with_kwargs:
        _GLOBAL["forward_kw"].add(handle.id)
    if always_call:
        _GLOBAL["forward_always"].add(handle.id)
    return handle


def register_module_full_backward_hook(hook) -> RemovableHandle:
    """A full backward hook for every module.

    >>> import nbgrad as nb
    >>> from nbgrad.nn.modules.module import register_module_full_backward_hook
    >>> seen = []
    >>> with register_module_full_backward_hook(lambda m, gi, go: seen.append(type(m).__name__)):
    ...     nb.nn.Linear(2, 1)(nb.ones(1, 2)).sum().backward()
    >>> seen
    ['Linear']
    """
    return _global_handle("backward", hook)


def register_module_full_backward_pre_hook(hook) -> RemovableHandle:
    """A full backward pre-hook for every module.

    >>> import nbgrad as nb
    >>> from nbgrad.nn.modules.module import register_module_full_backward_pre_hook
    >>> with register_module_full_backward_pre_hook(lambda m, go: None):
    ...     nb.nn.Linear(2, 1)(nb.ones(1, 2)).sum().backward()
    """
    return _global_handle("backward_pre", hook)


def _hook_table_set(module, name: str) -> set:
    d = module.__dict__.get(name)
    if d is None:
        d = set()
        object.__setattr__(module, name, d)
    return d


class _BackwardHookState:
    """Identity autograd nodes around a module call: the one on the outputs runs the
    backward pre-hooks and keeps ``grad_output``; the one on the inputs runs the full
    backward hooks with ``grad_input``."""

    def __init__(self, module, hooks, pre_hooks) -> None:
        self.module = module
        self.hooks = hooks
        self.pre_hooks = pre_hooks
        self.grad_output = None
        self.n_inputs = 0
        self.input_positions: list = []

    def wrap_inputs(self, args):
        pos = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
        self.tensor_positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.input_positions = pos
        if not pos or not self.hooks:
            return args
        state = self

        class _InputHook(Function):
            @staticmethod
            def forward(ctx, *xs):
                return tuple(x.view(x.shape)
                             for x in xs)

            @staticmethod
            def backward(ctx, *grads):
                return state.run_hooks(grads)

        wrapped = _InputHook.apply(*[args[i] for i in pos])
        args = list(args)
        for i, w in zip(pos, wrapped):
            args[i] = w
        return tuple(args)

    def run_hooks(self, grads):
        grad_input = [None] * len(self.tensor_positions)
        where = {p: k for k, p in enumerate(self.tensor_positions)}
        for p, g in zip(self.input_positions, grads):
            grad_input[where[p]] = g
        grad_input = tuple(grad_input)
        for hook in list(self.hooks.values()):
            res = hook(self.module, grad_input, self.grad_output)
            if res is not None:
                res = tuple(res) if isinstance(res, (tuple, list)) else (res,)
                if len(res) != len(grad_input):
                    raise RuntimeError(f"Backward hook returned an invalid number of grad_input, "
                                       f"got {len(res)}, but expected {len(grad_input)}")
                grad_input = res
        return tuple(grad_input[where[p]] for p in self.input_positions)

    def wrap_outputs(self, result):
        single = isinstance(result, Tensor)
        outs = (result,) if single else result
        if not isinstance(outs, tuple):
            return result
        pos = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
        if not pos:
            return result
        state = self

        class _OutputHook(Function):
            @staticmethod
            def forward(ctx, *xs):
                return tuple(x.view(x.shape)
                             for x in xs)

            @staticmethod
            def backward(ctx, *grads):
                grads = tuple(grads)
                for hook in list(state.pre_hooks.values()):
                    res = hook(state.module, grads)
                    if res is not None:
                        grads = tuple(res) if isinstance(res, (tuple, list)) else (res,)
                state.grad_output = grads
                if state.hooks and not state.input_positions:
                    for hook in list(state.hooks.values()):
                        hook(state.module, (None,) * len(state.tensor_positions), grads)
                return grads

        wrapped = _OutputHook.apply(*[outs[i] for i in pos])
        outs = list(outs)
        for i, w in zip(pos, wrapped):
            outs[i] = w
        return outs[0] if single else tuple(outs)


def _indent(text: str, spaces: int) -> str:
    """Indent every line of ``text`` but the first."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    pad = " " * spaces
    return lines[0] + "\n" + "\n".join(pad + line for line in lines[1:])


def _check_name(kind: str, name, owner) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
    if not name:
        raise KeyError(f'{kind} name can\'t be empty string ""')
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain ".", got {name!r}')
    if hasattr(owner, name) and name not in owner._parameters and name not in owner._buffers \
            and name not in owner._modules:
        raise KeyError(f"attribute {name!r} already exists")


class Module:
    """Base class for models: holds parameters, buffers and sub-modules as attributes.

    Subclasses call ``super().__init__()`` first, assign layers and ``Parameter``s as attributes
    and define ``forward``; calling the module runs ``forward``.

    >>> import nbgrad as nb
    >>> class Net(nb.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = nb.nn.Linear(3, 2)
    ...     def forward(self, x):
    ...         return self.fc(x).relu()
    >>> net = Net()
    >>> [name for name, _ in net.named_parameters()]
    ['fc.weight', 'fc.bias']
    >>> net
    Net(
      (fc): Linear(in_features=3, out_features=2, bias=True)
    )
    """

    training: bool
    _version: int = 1
    call_super_init: bool = False

    def __init__(self, *args, **kwargs) -> None:
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments: "
                            f"{args} {kwargs}")
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", {})

    def forward(self, *args, **kwargs):
        """The computation; subclasses override it.

        >>> import nbgrad as nb
        >>> class Double(nb.nn.Module):
        ...     def forward(self, x):
        ...         return 2 * x
        >>> Double()(nb.tensor([1.0, 2.0]))  # calling the module runs forward
        tensor([2., 4.])
        """
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args, **kwargs):
        d = self.__dict__
        if not (d.get("_forward_pre_hooks") or d.get("_forward_hooks")
                or d.get("_backward_hooks") or d.get("_backward_pre_hooks") or any(_GLOBAL_TABLES)):
            return self.forward(*args, **kwargs)
        return self._call_with_hooks(args, kwargs)

    def _call_with_hooks(self, args, kwargs):
        d = self.__dict__
        g = _GLOBAL
        pre = {**g["forward_pre"], **(d.get("_forward_pre_hooks") or {})}
        pre_kw = d.get("_forward_pre_hooks_with_kwargs") or set()
        fwd = {**g["forward"], **(d.get("_forward_hooks") or {})}
        fwd_kw = (d.get("_forward_hooks_with_kwargs") or set()) | g["forward_kw"]
        always = (d.get("_forward_hooks_always_called") or set()) | g["forward_always"]
        bw = {**g["backward"], **(d.get("_backward_hooks") or {})}
        bw_pre = {**g["backward_pre"], **(d.get("_backward_pre_hooks") or {})}
        called = set()
        try:
            for hid, hook in list(pre.items()):
                if hid in pre_kw:
                    res = hook(self, args, kwargs)
                    if res is not None:
                        if not (isinstance(res, tuple) and len(res) == 2):
                            raise RuntimeError("forward pre-hook must return None or a tuple of "
                                               f"(new_args, new_kwargs), but got {res}.")
                        args, kwargs = res
                else:
                    res = hook(self, args)
                    if res is not None:
                        args = res if isinstance(res, tuple) else (res,)
            state = None
            if bw or bw_pre:
                state = _BackwardHookState(self, bw, bw_pre)
                args = state.wrap_inputs(args)
            result = self.forward(*args, **kwargs)
            for hid, hook in list(fwd.items()):
                called.add(hid)
                res = hook(self, args, kwargs, result) if hid in fwd_kw else \
                    hook(self, args, result)
                if res is not None:
                    result = res
            if state is not None:
                result = state.wrap_outputs(result)
            return result
        except Exception:
            for hid, hook in list(fwd.items()):
                if hid in always and hid not in called:
                    try:
                        if hid in fwd_kw:
                            hook(self, args, kwargs, None)
                        else:
                            hook(self, args, None)
                    except Exception:  # noqa: BLE001 -- the forward's error is the one to raise
                        pass
            raise

    # ------------------------------------------------------------------ hooks
    def register_forward_pre_hook(self, hook, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` (``hook(module, args, kwargs)`` with ``with_kwargs``)
        before each ``forward``; a non-None result replaces the arguments.

        >>> import nbgrad as nb
        >>> m = nb.nn.Identity()
        >>> h = m.register_forward_pre_hook(lambda mod, args: (args[0] + 1,))
        >>> m(nb.tensor([1.0]))
        tensor([2.])
        """
        table = _hook_table(self, "_forward_pre_hooks")
        kw = _hook_table_set(self, "_forward_pre_hooks_with_kwargs")
        handle = RemovableHandle(table, extra_dict=kw)
        _add_hook(table, hook, prepend, handle)
        if with_kwargs:
            kw.add(handle.id)
        return handle

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` (``hook(module, args, kwargs, output)`` with
        ``with_kwargs``) after each ``forward``; a non-None result replaces the output.
        ``always_call``: also called (with output None) when ``forward`` raises.

        >>> import nbgrad as nb
        >>> fc = nb.nn.Linear(2, 3)
        >>> shapes = []
        >>> h = fc.register_forward_hook(lambda m, args, out: shapes.append(out.shape))
        >>> _ = fc(nb.ones(4, 2))
        >>> shapes
        [(4, 3)]
        """
        table = _hook_table(self, "_forward_hooks")
        kw = _hook_table_set(self, "_forward_hooks_with_kwargs")
        always = _hook_table_set(self, "_forward_hooks_always_called")
        handle = RemovableHandle(table, extra_dict=[kw, always])
        _add_hook(table, hook, prepend, handle)
        if with_kwargs:
            kw.add(handle.id)
        if always_call:
            always.add(handle.id)
        return handle

    def register_full_backward_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` when the gradients with respect to
        the module's tensor inputs are computed; a non-None result replaces ``grad_input``.

        >>> import nbgrad as nb
        >>> fc = nb.nn.Linear(2, 1)
        >>> seen = []
        >>> h = fc.register_full_backward_hook(lambda m, gi, go: seen.append(go[0].shape))
        >>> fc(nb.ones(3, 2, requires_grad=True)).sum().backward()
        >>> seen
        [(3, 1)]
        """
        table = _hook_table(self, "_backward_hooks")
        handle = RemovableHandle(table)
        _add_hook(table, hook, prepend, handle)
        return handle

    def register_full_backward_pre_hook(self, hook, prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_output)`` when the gradients with respect to the module's
        outputs are known; a non-None result replaces ``grad_output``.

        >>> import nbgrad as nb
        >>> fc = nb.nn.Linear(2, 1)
        >>> h = fc.register_full_backward_pre_hook(lambda m, go: (go[0] * 0,))
        >>> fc(nb.ones(3, 2)).sum().backward()
        >>> fc.weight.grad
        tensor([[0., 0.]])
        """
        table = _hook_table(self, "_backward_pre_hooks")
        handle = RemovableHandle(table)
        _add_hook(table, hook, prepend, handle)
        return handle

    def register_backward_hook(self, hook) -> RemovableHandle:
        """Deprecated in PyTorch; here the same as ``register_full_backward_hook``.

        >>> import nbgrad as nb
        >>> nb.nn.Identity().register_backward_hook(lambda m, gi, go: None).remove()
        """
        return self.register_full_backward_hook(hook)

    # ------------------------------------------------------------------ attribute registry
    def __setattr__(self, name: str, value) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._drop(name)
            params[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(nb.nn.Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            if d.get("_modules") is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._drop(name)
            d["_modules"][name] = value
        elif d.get("_modules") is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module '{name}' "
                    "(nb.nn.Module or None expected)"
                )
            d["_modules"][name] = None
        elif d.get("_buffers") is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                    "(nb.Tensor or None expected)"
                )
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _drop(self, name: str) -> None:
        self.__dict__.pop(name, None)
        for table in ("_parameters", "_buffers", "_modules"):
            self.__dict__[table].pop(name, None)
        self._non_persistent_buffers.discard(name)

    def __getattr__(self, name: str):
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            found = d.get(table)
            if found is not None and name in found:
                return found[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for table in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(table, ()):
                del self.__dict__[table][name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a ``None`` placeholder) under ``name``.

        >>> import nbgrad as nb
        >>> m = nb.nn.Module()
        >>> m.register_parameter("scale", nb.nn.Parameter(nb.ones(2)))
        >>> [name for name, _ in m.named_parameters()]
        ['scale']
        """
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name("parameter", name, self)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(nb.nn.Parameter or None required)"
            )
        self._drop(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is state but not a parameter (e.g. running statistics).

        Persistent buffers are part of ``state_dict``.

        >>> import nbgrad as nb
        >>> m = nb.nn.Module()
        >>> m.register_buffer("steps", nb.zeros(1))
        >>> m.register_buffer("cache", nb.zeros(1), persistent=False)
        >>> list(m.state_dict()), len(list(m.buffers()))
        (['steps'], 2)
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name("buffer", name, self)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(nb.Tensor or None required)"
            )
        self._drop(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under ``name``.

        >>> import nbgrad as nb
        >>> m = nb.nn.Module()
        >>> m.add_module("act", nb.nn.ReLU())
        >>> m.act, list(m.children())
        (ReLU(), [ReLU()])
        """
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        _check_name("module", name, self)
        self._drop(name)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The sub-module at dotted path ``target`` (``""`` is the module itself).

        >>> import nbgrad as nb
        >>> net = nb.nn.Sequential(nb.nn.Sequential(nb.nn.Linear(2, 2), nb.nn.Tanh()))
        >>> net.get_submodule("0.1")
        Tanh()
        """
        mod = self
        if not target:
            return mod
        for part in target.split("."):
            child = mod._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(mod).__name__} has no submodule `{part}`")
            mod = child
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target``.

        >>> import nbgrad as nb
        >>> nb.nn.Sequential(nb.nn.Linear(2, 3)).get_parameter("0.bias").shape
        (3,)
        """
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        param = getattr(mod, name)
        if not isinstance(param, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return param

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at dotted path ``target``.

        >>> import nbgrad as nb
        >>> nb.nn.Sequential(nb.nn.BatchNorm1d(2)).get_buffer("0.running_mean")
        tensor([0., 0.])
        """
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        if name not in mod._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return mod._buffers[name]

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """``(dotted name, module)`` for this module and every module below it.

        >>> import nbgrad as nb
        >>> net = nb.nn.Sequential(nb.nn.Linear(2, 2), nb.nn.ReLU())
        >>> [name for name, _ in net.named_modules()]
        ['', '0', '1']
        """
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is None:
                continue
            yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                           remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and every module below it.

        >>> import nbgrad as nb
        >>> net = nb.nn.Sequential(nb.nn.Linear(2, 2), nb.nn.ReLU())
        >>> [type(m).__name__ for m in net.modules()]
        ['Sequential', 'Linear', 'ReLU']
        """
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for the direct children.

        >>> import nbgrad as nb
        >>> net = nb.nn.Sequential(nb.nn.Linear(2, 2), nb.nn.Sequential(nb.nn.ReLU()))
        >>> [name for name, _ in net.named_children()]
        ['0', '1']
        """
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        """The direct child modules.

        >>> import nbgrad as nb
        >>> list(nb.nn.Sequential(nb.nn.ReLU(), nb.nn.Tanh()).children())
        [ReLU(), Tanh()]
        """
        for _, child in self.named_children():
            yield child

    def _named_members(self, table: str, prefix: str, recurse: bool, remove_duplicate: bool):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, value in mod.__dict__[table].items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` pairs, each shared parameter once.

        >>> import nbgrad as nb
        >>> net = nb.nn.Sequential(nb.nn.Linear(3, 2))
        >>> [(name, p.shape) for name, p in net.named_parameters()]
        [('0.weight', (2, 3)), ('0.bias', (2,))]
        """
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The parameters (give them to an optimizer).

        >>> import nbgrad as nb
        >>> fc = nb.nn.Linear(3, 2)
        >>> sum(p.numel() for p in fc.parameters())
        8
        >>> opt = nb.optim.SGD(fc.parameters(), lr=0.1)
        """
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, buffer)`` pairs.

        >>> import nbgrad as nb
        >>> m = nb.nn.Module()
        >>> m.register_buffer("mean", nb.zeros(3))
        >>> [(name, b.shape) for name, b in m.named_buffers()]
        [('mean', (3,))]
        """
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """The buffers.

        >>> import nbgrad as nb
        >>> list(nb.nn.CrossEntropyLoss(weight=nb.tensor([1.0, 2.0])).buffers())
        [tensor([1., 2.])]
        """
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every sub-module (children first) and on this module; returns self.

        >>> import nbgrad as nb
        >>> def init_weights(m):
        ...     if isinstance(m, nb.nn.Linear):
        ...         nb.nn.init.zeros_(m.weight)
        >>> net = nb.nn.Sequential(nb.nn.Linear(2, 2), nb.nn.ReLU()).apply(init_weights)
        >>> net[0].weight.abs().sum().item()
        0.0
        """
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``training = mode``) here and below; returns self.

        >>> import nbgrad as nb
        >>> net = nb.nn.Sequential(nb.nn.Dropout())
        >>> net.train(False).training, net[0].training, net.train().training
        (False, False, True)
        """
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (``train(False)``): dropout off; returns self.

        >>> import nbgrad as nb
        >>> drop = nb.nn.Dropout(p=0.5).eval()
        >>> drop.training, drop(nb.ones(2))
        (False, tensor([1., 1.]))
        """
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter; returns self.

        >>> import nbgrad as nb
        >>> fc = nb.nn.Linear(2, 2).requires_grad_(False)  # frozen
        >>> [p.requires_grad for p in fc.parameters()]
        [False, False]
        """
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters (to ``None`` by default, else to zeros).

        >>> import nbgrad as nb
        >>> fc = nb.nn.Linear(2, 1)
        >>> fc(nb.ones(1, 2)).sum().backward()
        >>> fc.weight.grad
        tensor([[1., 1.]])
        >>> fc.zero_grad()
        >>> fc.weight.grad is None
        True
        """
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                g = p.grad
                if g.grad_fn is not None:
                    g.detach_()
                else:
                    g.requires_grad_(False)
                with no_grad():
                    g.zero_()

    # ------------------------------------------------------------------ devices and dtypes
    def _apply(self, fn: Callable[[Tensor], Tensor]) -> Module:
        for child in self.children():
            child._apply(fn)
        with no_grad():
            for p in self._parameters.values():
                if p is None:
                    continue
                data = fn(p.detach())
                grad = p.grad
                new_grad = None if grad is None else fn(grad)
                if data._data is not p._data or data.device != p.device:
                    p.data = data
                if grad is not None and new_grad is not grad:
                    p.grad = new_grad
            for name, b in self._buffers.items():
                if b is not None:
                    self._buffers[name] = fn(b)
        return self

    def to(self, *args, **kwargs) -> Module:
        """Move parameters and buffers to a device and/or cast floating ones to a dtype, in place
        (the Parameter objects stay the same, so optimizers keep working); returns self.

        >>> import nbgrad as nb
        >>> fc = nb.nn.Linear(2, 2)
        >>> w = fc.weight
        >>> fc.to(nb.float64).weight is w, w.dtype, fc.to("cpu").weight.device
        (True, nbgrad.float64, device(type='cpu'))
        """

        device, dtype = parse_to_args(args, kwargs)
        if dtype is not None:
            dtype = as_dtype(dtype)
            if not dtype.is_floating_point:
                raise TypeError(
                    f"nn.Module.to only accepts floating point dtypes, but got desired dtype="
                    f"{dtype.name}"
                )

        def convert(t: Tensor) -> Tensor:
            out = t
            if dtype is not None and t.is_floating_point():
                out = out.to(dtype=dtype)
            if device is not None:
                out = out.to(device=device)
            return out

        return self._apply(convert)

    def cpu(self) -> Module:
        """Move everything to the CPU; returns self.

        >>> import nbgrad as nb
        >>> nb.nn.Linear(2, 2).cpu().weight.device
        device(type='cpu')
        """
        return self.to("cpu")

    def cuda(self, device="cuda") -> Module:
        """Move everything to a CUDA device; returns self.

        >>> import nbgrad as nb
        >>> fc = nb.nn.Linear(2, 2)
        >>> if nb.cuda.is_available():
        ...     _ = fc.cuda()
        >>> fc.weight.device.type == ("cuda" if nb.cuda.is_available() else "cpu")
        True
        """
        return self.to(device)

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32; returns self.

        >>> import nbgrad as nb
        >>> nb.nn.Linear(2, 2).double().float().weight.dtype
        nbgrad.float32
        """
        return self.to(dtype="float32")

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64; returns self.

        >>> import nbgrad as nb
        >>> nb.nn.Linear(2, 2).double().weight.dtype
        nbgrad.float64
        """
        return self.to(dtype="float64")

    def half(self) -> Module:
        """float16 is not an nbgrad dtype: raises ``TypeError``.

        >>> import nbgrad as nb
        >>> nb.nn.Linear(2, 2).half()
        Traceback (most recent call last):
        TypeError: nn.Module.half: nbgrad has no float16 dtype (float32 and float64 only)
        """
        raise TypeError("nn.Module.half: nbgrad has no float16 dtype (float32 and float64 only)")

    def bfloat16(self) -> Module:
        """bfloat16 is not an nbgrad dtype: raises ``TypeError``.

        >>> import nbgrad as nb
        >>> nb.nn.Linear(2, 2).bfloat16()
        Traceback (most recent call last):
        TypeError: nn.Module.bfloat16: nbgrad has no bfloat16 dtype (float32 and float64 only)
        """
        raise TypeError("nn.Module.bfloat16: nbgrad has no bfloat16 dtype (float32 and "
                        "float64 only)")

    def type(self, dst_type) -> Module:
        """Cast every parameter and buffer to ``dst_type``; returns self.

        >>> import nbgrad as nb
        >>> nb.nn.Linear(2, 2).type(nb.float64).weight.dtype
        nbgrad.float64
        """
        dst = as_dtype(dst_type)
        return self._apply(lambda t: t.to(dtype=dst))

    def share_memory(self) -> Module:
        """Accepted for compatibility (a no-op); returns self.

        >>> import nbgrad as nb
        >>> m = nb.nn.Linear(1, 1)
        >>> m.share_memory() is m
        True
        """
        return self

    # ------------------------------------------------------------------ state dicts
    def _state_entries(self, prefix: str = "") -> dict:
        """Dotted name -> (owning module, attribute name, kind) of everything in the state dict."""
        out: dict = {}
        for mod_prefix, mod in self.named_modules(prefix=prefix, remove_duplicate=False):
            head = f"{mod_prefix}." if mod_prefix else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    out[head + name] = (mod, name, "parameter")
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent_buffers:
                    out[head + name] = (mod, name, "buffer")
            if type(mod).get_extra_state is not Module.get_extra_state:
                out[head + "_extra_state"] = (mod, "_extra_state", "extra")
        return out

    def state_dict(self, *, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict:
        """Parameters and persistent buffers by dotted name (detached unless ``keep_vars``).

        The tensors share storage with the module: save them with ``nb.save``.

        >>> import nbgrad as nb
        >>> state = nb.nn.Linear(3, 2).state_dict()
        >>> list(state), state["weight"].shape, state["weight"].requires_grad
        (['weight', 'bias'], (2, 3), False)
        """
        out = OrderedDict() if destination is None else destination
        meta = getattr(out, "_metadata", None)
        if meta is None:
            meta = OrderedDict()
            try:
                out._metadata = meta
            except AttributeError:
                meta = None
        if meta is not None:
            for mod_prefix, mod in self.named_modules(prefix=prefix.rstrip("."),
                                                      remove_duplicate=False):
                meta[mod_prefix] = {"version": type(mod)._version}
        for key, (mod, name, kind) in self._state_entries(prefix.rstrip(".")).items():
            if kind == "extra":
                out[key] = mod.get_extra_state()
                continue
            table = mod._parameters if kind == "parameter" else mod._buffers
            value = table[name]
            out[key] = value if keep_vars else value.detach()
        return out

    def load_state_dict(self, state_dict, strict: bool = True,
                        assign: bool = False) -> IncompatibleKeys:
        """Copy tensors from ``state_dict`` into this module's parameters and buffers.

        Every key and shape is checked before anything is copied: with ``strict`` (default),
        missing or unexpected keys are errors; a shape mismatch is always an error. With
        ``assign=True`` the tensors are adopted instead of copied.

        >>> import nbgrad as nb
        >>> a, b = nb.nn.Linear(3, 2), nb.nn.Linear(3, 2)
        >>> b.load_state_dict(a.state_dict())
        <All keys matched successfully>
        >>> b.weight.tolist() == a.weight.tolist()
        True
        >>> b.load_state_dict({"weight": a.weight.detach()}, strict=False)
        IncompatibleKeys(missing_keys=['bias'], unexpected_keys=[])
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        meta = getattr(state_dict, "_metadata", None)
        for mod_prefix, mod in self.named_modules(remove_duplicate=False):
            upgrade = getattr(mod, "_upgrade_state_dict", None)
            if upgrade is None:
                continue
            version = None if meta is None else (meta.get(mod_prefix) or {}).get("version")
            extra = upgrade(state_dict, f"{mod_prefix}." if mod_prefix else "", version)
            if extra:
                state_dict = OrderedDict(state_dict)
                state_dict.update(extra)
        entries = self._state_entries()
        missing = [k for k in entries if k not in state_dict]
        unexpected = [k for k in state_dict.keys() if k not in entries]
        errors = []
        if strict:
            if missing:
                errors.append("Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ". ")
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ". ")
        for key, (mod, name, kind) in entries.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            if kind == "extra":
                continue
            own = (mod._parameters if kind == "parameter" else mod._buffers)[name]
            if not isinstance(value, Tensor):
                errors.append(
                    f'While copying the {kind} named "{key}", expected a Tensor from '
                    f"checkpoint but received {type(value).__name__}"
                )
            elif value.shape != own.shape:
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {value.shape} from "
                    f"checkpoint, the shape in current model is {own.shape}."
                )
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(errors)
            )
        with no_grad():
            for key, (mod, name, kind) in entries.items():
                if key not in state_dict:
                    continue
                value = state_dict[key]
                if kind == "extra":
                    mod.set_extra_state(value)
                elif kind == "parameter":
                    own = mod._parameters[name]
                    if assign:
                        mod._parameters[name] = Parameter(value.detach(), own.requires_grad)
                    else:
                        own.copy_(value.detach().to(own.device))
                else:
                    own = mod._buffers[name]
                    if assign:
                        mod._buffers[name] = value.detach()
                    else:
                        own.copy_(value.detach().to(own.device))
        return IncompatibleKeys(missing, unexpected)

    def get_extra_state(self):
        """Extra (non-tensor) state for ``state_dict`` under ``"_extra_state"``; override it
        together with :meth:`set_extra_state` (the base raises, as in PyTorch).

        >>> import nbgrad as nb
        >>> class Counter(nb.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.calls = 3
        ...     def get_extra_state(self):
        ...         return {"calls": self.calls}
        ...     def set_extra_state(self, state):
        ...         self.calls = state["calls"]
        >>> c = Counter()
        >>> dict(c.state_dict())
        {'_extra_state': {'calls': 3}}
        >>> d = Counter(); d.calls = 0
        >>> _ = d.load_state_dict(c.state_dict()); d.calls
        3
        """
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be "
                           "called. Please file an issue at https://github.com/pytorch/pytorch/"
                           "issues/new?template=bug-report.yml to report this bug.")

    def set_extra_state(self, state) -> None:
        """Restore what :meth:`get_extra_state` returned (override both).

        >>> import nbgrad as nb
        >>> nb.nn.Module().set_extra_state({})
        Traceback (most recent call last):
        RuntimeError: Reached a code path in Module.set_extra_state() that should never be called.
        """
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be "
                           "called.")

    # ------------------------------------------------------------------ repr
    def extra_repr(self) -> str:
        """The module's own settings for ``repr`` (override in subclasses).

        >>> import nbgrad as nb
        >>> class Scale(nb.nn.Module):
        ...     def __init__(self, k):
        ...         super().__init__()
        ...         self.k = k
        ...     def extra_repr(self):
        ...         return f"k={self.k}"
        >>> Scale(2.0)
        Scale(k=2.0)
        """
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        children = [f"({name}): {_indent(repr(m), 2)}" for name, m in self._modules.items()]
        if not children and len(lines) <= 1:
            return f"{self._get_name()}({lines[0] if lines else ''})"
        body = "\n  ".join(lines + children)
        return f"{self._get_name()}(\n  {body}\n)"
