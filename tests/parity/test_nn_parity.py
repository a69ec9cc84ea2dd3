"""nn modules beside PyTorch: Linear, normalization, Embedding, recurrent layers, attention,
the transformer encoder layer, losses and activations. torch's weights are copied into nbgrad's
through numpy (state_dict keys and shapes checked equal first); float64 outputs, input
gradients and parameter gradients compared."""

import numpy as np
import pytest

from ._parity import (
    assert_close,
    build_pair,
    compare,
    compare2,
    compare_dtypes,
    const,
    module_fn,
    nb,
    randn,
    run,
    torch,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 4, 3)])
def test_linear(shape, bias):
    nm, tm = build_pair("Linear", 3, 4, bias=bias)
    compare(module_fn(nm, tm), [randn(*shape)], nm, tm)


# ---------------------------------------------------------------- normalization

BN = [
    ("BatchNorm1d", 3, {}, (4, 3)),
    ("BatchNorm1d", 3, {}, (4, 3, 5)),
    ("BatchNorm1d", 3, {"momentum": None}, (4, 3)),
    ("BatchNorm1d", 3, {"affine": False, "momentum": 0.3}, (4, 3, 2)),
    ("BatchNorm2d", 3, {}, (2, 3, 3, 4)),
    ("BatchNorm2d", 3, {"eps": 1e-3, "momentum": 0.5}, (2, 3, 2, 2)),
    ("BatchNorm2d", 3, {"momentum": None, "affine": False}, (2, 3, 3, 2)),
    ("BatchNorm2d", 3, {"track_running_stats": False}, (2, 3, 3, 2)),
]


@pytest.mark.parametrize("case", BN, ids=lambda c: f"{c[0]}-{c[2]}-{len(c[3])}d")
def test_batchnorm_train_then_eval(case):
    name, c, kw, shape = case
    nm, tm = build_pair(name, c, **kw)
    f = module_fn(nm, tm)
    for step in range(3):  # training steps: batch statistics, running stats updated
        compare(f, [randn(*shape, seed=step) * (step + 1) + step], nm, tm, seed=step)
    for (k, a), (_, b) in zip(nm.state_dict().items(), tm.state_dict().items()):
        assert_close(a.detach().numpy(), b.detach().numpy(), f"buffer {k}")
    nm.eval()
    tm.eval()
    compare(f, [randn(*shape, seed=9)], nm, tm)


@pytest.mark.parametrize("shape,kw", [
    ((4,), {}),
    ((3, 4), {"eps": 1e-3}),
    ((3, 4), {"elementwise_affine": False}),
    ((3, 4), {"bias": False}),
])
def test_layernorm(shape, kw):
    nm, tm = build_pair("LayerNorm", shape, **kw)
    compare(module_fn(nm, tm), [randn(2, *shape)], nm, tm)


@pytest.mark.parametrize("groups,channels,kw,shape", [
    (2, 4, {}, (2, 4, 3)),
    (1, 4, {}, (2, 4, 2, 3)),
    (4, 4, {"affine": False}, (2, 4, 3)),
    (3, 6, {"eps": 1e-2}, (1, 6, 2, 2, 2)),
])
def test_groupnorm(groups, channels, kw, shape):
    nm, tm = build_pair("GroupNorm", groups, channels, **kw)
    compare(module_fn(nm, tm), [randn(*shape)], nm, tm)


# ---------------------------------------------------------------- embedding

@pytest.mark.parametrize("padding_idx", [None, 0, 3, -2])
def test_embedding(padding_idx):
    nm, tm = build_pair("Embedding", 6, 3, padding_idx=padding_idx)
    idx = np.array([[0, 3, 4, 3], [5, 0, 1, 4]])
    compare(module_fn(nm, tm), [idx], nm, tm)


# ---------------------------------------------------------------- recurrent layers

RNN = [
    ("RNN", {}),
    ("RNN", {"nonlinearity": "relu", "bias": False}),
    ("RNN", {"num_layers": 2, "bidirectional": True}),
    ("RNN", {"batch_first": True, "num_layers": 2}),
    ("LSTM", {}),
    ("LSTM", {"num_layers": 2, "bidirectional": True}),
    ("LSTM", {"batch_first": True, "bidirectional": True}),
    ("LSTM", {"proj_size": 2}),
    ("LSTM", {"proj_size": 2, "num_layers": 2, "bidirectional": True, "batch_first": True}),
    ("GRU", {}),
    ("GRU", {"num_layers": 2, "bidirectional": True}),
    ("GRU", {"batch_first": True, "bias": False, "num_layers": 2}),
]


@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("case", RNN, ids=lambda c: f"{c[0]}-{c[1]}")
def test_recurrent(case, batched, with_h0):
    name, kw = case
    nm, tm = build_pair(name, 3, 4, **kw)
    T, N = 5, 2
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    hsize = kw.get("proj_size") or 4
    if batched:
        x = randn(N, T, 3) if kw.get("batch_first") else randn(T, N, 3)
        hshape, cshape = (layers, N, hsize), (layers, N, 4)
    else:
        x = randn(T, 3)
        hshape, cshape = (layers, hsize), (layers, 4)
    arrays = [x]
    if with_h0:
        arrays.append(randn(*hshape, seed=2))
        if name == "LSTM":
            arrays.append(randn(*cshape, seed=3))

    def call(lib, m, x, *h):
        if not h:
            return m(x)
        return m(x, h if name == "LSTM" else h[0])
    compare(module_fn(nm, tm, call), arrays, nm, tm)


@pytest.mark.parametrize("name,kw", [
    ("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {}),
    ("GRUCell", {}), ("GRUCell", {"bias": False}),
])
def test_cells(name, kw):
    nm, tm = build_pair(name, 3, 4, **kw)
    arrays = [randn(2, 3), randn(2, 4, seed=2)] + ([randn(2, 4, seed=3)] if name == "LSTMCell"
                                                   else [])

    def call(lib, m, x, *h):
        return m(x, h if name == "LSTMCell" else h[0])
    compare(module_fn(nm, tm, call), arrays, nm, tm)


# ---------------------------------------------------------------- attention

MHA = [
    {},
    {"batch_first": True},
    {"bias": False},
    {"kdim": 3, "vdim": 5},
    {"add_bias_kv": True},
    {"add_zero_attn": True},
    {"add_bias_kv": True, "add_zero_attn": True, "batch_first": True},
]
CALLS = [
    {},
    {"need_weights": False},
    {"average_attn_weights": False},
    {"key_padding_mask": True},
    {"attn_mask": "bool"},
    {"attn_mask": "float", "key_padding_mask": True},
    {"attn_mask": "causal", "is_causal": True},
]


@pytest.mark.parametrize("call", CALLS, ids=str)
@pytest.mark.parametrize("kw", MHA, ids=str)
def test_multihead_attention(kw, call):
    E, H, L, S, N = 4, 2, 3, 4, 2
    nm, tm = build_pair("MultiheadAttention", E, H, **kw)
    bf = kw.get("batch_first", False)

    def seq(n, d, seed):
        return randn(N, n, d, seed=seed) if bf else randn(n, N, d, seed=seed)
    q, k, v = seq(L, E, 1), seq(S, kw.get("kdim", E), 2), seq(S, kw.get("vdim", E), 3)
    call = dict(call)
    arrays, names = [q, k, v], []
    if call.pop("key_padding_mask", False):
        arrays.append(np.array([[False, False, True, False], [False, True, True, False]]))
        names.append("key_padding_mask")
    mask = call.pop("attn_mask", None)
    if mask == "bool":
        arrays.append(np.array([[False, True, False, False], [False, False, True, True],
                                [True, False, False, False]]))
        names.append("attn_mask")
    elif mask == "float":
        arrays.append(randn(L, S, seed=4))
        names.append("attn_mask")
    elif mask == "causal":
        arrays.append(np.triu(np.ones((L, S), bool), 1))
        names.append("attn_mask")
    if kw.get("kdim") and mask == "causal":
        pytest.skip("is_causal with kdim is the same path as attn_mask")

    def f(lib, m, q, k, v, *masks):
        return m(q, k, v, **dict(zip(names, masks)), **call)
    compare(module_fn(nm, tm, f), arrays, nm, tm)


ENC = [
    {},
    {"norm_first": True},
    {"batch_first": True},
    {"norm_first": True, "batch_first": True, "activation": "gelu"},
    {"bias": False},
    {"layer_norm_eps": 1e-3, "norm_first": True},
]


@pytest.mark.parametrize("masks", ["none", "src_mask", "key_padding", "both", "causal"])
@pytest.mark.parametrize("kw", ENC, ids=str)
def test_transformer_encoder_layer(kw, masks):
    T, N, E = 4, 2, 4
    nm, tm = build_pair("TransformerEncoderLayer", E, 2, dim_feedforward=6, dropout=0.0, **kw)
    x = randn(N, T, E) if kw.get("batch_first") else randn(T, N, E)
    arrays, names, extra = [x], [], {}
    if masks in ("src_mask", "both"):
        arrays.append(np.array([[False, True, False, False], [False, False, True, False],
                                [True, False, False, False], [False, False, False, True]]))
        names.append("src_mask")
    if masks in ("key_padding", "both"):
        arrays.append(np.array([[False, False, True, False], [False, True, False, True]]))
        names.append("src_key_padding_mask")
    if masks == "causal":
        arrays.append(np.triu(np.ones((T, T), bool), 1))
        names.append("src_mask")
        extra["is_causal"] = True

    def f(lib, m, x, *ms):
        return m(x, **dict(zip(names, ms)), **extra)
    compare(module_fn(nm, tm, f), arrays, nm, tm)


# ---------------------------------------------------------------- losses

def loss_case(name, ctor, inputs, wrap=None):
    """``ctor(lib)`` -> kwargs of ``nn.<name>``; ``wrap(lib, x)`` maps the first input."""
    def f(lib, x, *rest):
        loss = getattr(lib.nn, name)(**ctor(lib))
        return loss(wrap(lib, x) if wrap else x, *rest)
    return pytest.param(f, inputs, id=name + "-" + str(len(LOSSES)))


def softmax_np(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def w(lib, values):
    return {"weight": lib.tensor(np.array(values, float))}


LOGITS, LABELS = randn(5, 4), np.array([0, 3, 1, 3, 2])
LOGITS_K, LABELS_K = randn(2, 3, 4), np.array([[0, 2, 1, 1], [2, 2, 0, 1]])
PROBS = softmax_np(randn(5, 4, seed=7))
LOG_SOFTMAX = (lambda lib, x: lib.nn.functional.log_softmax(x, 1))
LOSSES = []
for red in ["mean", "sum", "none"]:
    LOSSES += [
        loss_case("CrossEntropyLoss", lambda lib, r=red: {"reduction": r}, [LOGITS, LABELS]),
        loss_case("CrossEntropyLoss", lambda lib, r=red: {"reduction": r, **w(lib, [1, 2, .5, 3])},
                  [LOGITS, LABELS]),
        loss_case("CrossEntropyLoss", lambda lib, r=red: {"reduction": r, "ignore_index": 3},
                  [LOGITS, LABELS]),
        loss_case("CrossEntropyLoss", lambda lib, r=red: {"reduction": r, "label_smoothing": 0.2},
                  [LOGITS, LABELS]),
        loss_case("CrossEntropyLoss", lambda lib, r=red: {
            "reduction": r, "label_smoothing": 0.1, "ignore_index": 3, **w(lib, [1, 2, .5, 3])},
            [LOGITS, LABELS]),
        loss_case("CrossEntropyLoss", lambda lib, r=red: {"reduction": r}, [LOGITS, PROBS]),
        loss_case("CrossEntropyLoss", lambda lib, r=red: {
            "reduction": r, "label_smoothing": 0.3, **w(lib, [1, 2, .5, 3])}, [LOGITS, PROBS]),
        loss_case("CrossEntropyLoss", lambda lib, r=red: {
            "reduction": r, "ignore_index": 0, **w(lib, [1, 2, .5])}, [LOGITS_K, LABELS_K]),
        loss_case("CrossEntropyLoss", lambda lib, r=red: {"reduction": r, "label_smoothing": 0.2},
                  [LOGITS_K, LABELS_K]),
        loss_case("NLLLoss", lambda lib, r=red: {"reduction": r}, [LOGITS, LABELS], LOG_SOFTMAX),
        loss_case("NLLLoss", lambda lib, r=red: {"reduction": r, "ignore_index": 1,
                                                 **w(lib, [1, 2, .5, 3])},
                  [LOGITS, LABELS], LOG_SOFTMAX),
        loss_case("NLLLoss", lambda lib, r=red: {"reduction": r, **w(lib, [1, 2, .5])},
                  [LOGITS_K, LABELS_K], LOG_SOFTMAX),
        loss_case("BCEWithLogitsLoss", lambda lib, r=red: {"reduction": r},
                  [randn(3, 4), PROBS[:3]]),
        loss_case("BCEWithLogitsLoss", lambda lib, r=red: {
            "reduction": r, "pos_weight": lib.tensor(np.array([1., 3., .5, 2.]))},
            [randn(3, 4), PROBS[:3]]),
        loss_case("BCEWithLogitsLoss", lambda lib, r=red: {
            "reduction": r, "pos_weight": lib.tensor(np.array([1., 3., .5, 2.])),
            **w(lib, [[1.], [2.], [.5]])}, [randn(3, 4), PROBS[:3]]),
        loss_case("KLDivLoss", lambda lib, r=red: {"reduction": r}, [LOGITS, PROBS], LOG_SOFTMAX),
        loss_case("KLDivLoss", lambda lib, r=red: {"reduction": r, "log_target": True},
                  [LOGITS, np.log(PROBS)], LOG_SOFTMAX),
        loss_case("SmoothL1Loss", lambda lib, r=red: {"reduction": r},
                  [randn(3, 4) * 2, randn(3, 4)]),
        loss_case("SmoothL1Loss", lambda lib, r=red: {"reduction": r, "beta": 0.5},
                  [randn(3, 4) * 2, randn(3, 4)]),
        loss_case("SmoothL1Loss", lambda lib, r=red: {"reduction": r, "beta": 0.0},
                  [randn(3, 4) * 2, randn(3, 4)]),
        loss_case("HuberLoss", lambda lib, r=red: {"reduction": r}, [randn(3, 4) * 2, randn(3, 4)]),
        loss_case("HuberLoss", lambda lib, r=red: {"reduction": r, "delta": 0.3},
                  [randn(3, 4) * 2, randn(3, 4)]),
    ]
LOSSES.append(loss_case("KLDivLoss", lambda lib: {"reduction": "batchmean"}, [LOGITS, PROBS],
                        LOG_SOFTMAX))


@pytest.mark.parametrize("f,inputs", LOSSES)
def test_loss(f, inputs):
    compare(f, inputs)


CTC_T, CTC_N, CTC_C = 6, 2, 4


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("blank", [0, 3])
def test_ctc_loss(reduction, layout, blank):
    labels = [1, 2, 3] if blank == 0 else [0, 1, 1]
    labels2 = [2, 2] if blank == 0 else [2, 0]
    if layout == "padded":
        targets = np.array([labels, labels2 + [blank]])
    else:
        targets = np.array(labels + labels2)
    lengths = [np.array([6, 5]), np.array([3, 2])]

    def f(lib, x, t, il, tl):  # through log_softmax: torch's CTC gradient assumes that input
        lp = lib.nn.functional.log_softmax(x, 2)
        return lib.nn.CTCLoss(blank=blank, reduction=reduction)(lp, t, il, tl)
    compare(f, [randn(CTC_T, CTC_N, CTC_C), targets, *lengths])


def test_ctc_loss_zero_infinity():
    def f(lib, x, t, il, tl):  # the second target cannot fit in 2 frames: infinite loss
        lp = lib.nn.functional.log_softmax(x, 2)
        return lib.nn.CTCLoss(zero_infinity=True, reduction="sum")(lp, t, il, tl)
    compare(f, [randn(4, 2, 4), np.array([[1, 2], [1, 1]]), np.array([4, 2]), np.array([2, 2])])


# ---------------------------------------------------------------- activations

ACTIVATIONS = ["CELU", "ELU", "GELU", "GLU", "Hardshrink", "Hardsigmoid", "Hardswish",
               "Hardtanh", "LeakyReLU", "LogSigmoid", "LogSoftmax", "Mish", "PReLU", "ReLU",
               "ReLU6", "RReLU", "SELU", "SiLU", "Sigmoid", "Softmax", "Softmax2d", "Softmin",
               "Softplus", "Softshrink", "Softsign", "Tanh", "Tanhshrink"]


# PyTorch's backward of these rounds through a float32 constant even in float64 (hardsigmoid's
# 1/6, celu's 1/alpha): torch is ~3e-8 relative off the exact derivative, nbgrad is exact
TORCH_F32_BACKWARD = {"Hardsigmoid", "CELU"}


@pytest.mark.parametrize("shape", [(2, 3, 4), (2, 2, 3, 4)])
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation(name, shape):
    nm, tm = build_pair(name)
    nm.eval()  # RReLU: the deterministic slope (lower + upper) / 2
    tm.eval()
    x = randn(*shape) * 3
    rtol = 1e-7 if name in TORCH_F32_BACKWARD else 1e-9
    compare(module_fn(nm, tm), [x], nm, tm, rtol=rtol)


@pytest.mark.parametrize("name,args", [
    ("Threshold", (0.1, 20.0)), ("PReLU", (3,)), ("GELU", ("tanh",)), ("ELU", (0.5,)),
    ("Softplus", (2.0, 1.5)), ("Hardtanh", (-0.5, 2.0)), ("LeakyReLU", (0.2,)), ("GLU", (0,)),
    ("Softmax", (1,)), ("LogSoftmax", (-1,)), ("CELU", (0.7,)),
])
def test_activation_args(name, args):
    nm, tm = build_pair(name, *args)
    rtol = 1e-7 if name in TORCH_F32_BACKWARD else 1e-9
    compare(module_fn(nm, tm), [randn(2, 3, 4) * 3], nm, tm, rtol=rtol)


def test_rrelu_train_bounds():  # random slopes: compare the rule, not the draw
    x = nb.tensor(-np.abs(randn(200)))
    y = nb.nn.RReLU(0.1, 0.3)(x).numpy()
    ratio = y / x.numpy()
    assert ratio.min() >= 0.1 and ratio.max() <= 0.3 and ratio.std() > 0


def test_driver_catches_a_gradient_difference():  # the driver itself cannot pass vacuously
    def f(lib, x):  # equal values, gradients differing by 1e-6 relative
        return x * 2 if lib is nb else x * (2 + 2e-6) - x.detach() * 2e-6
    ours, theirs = run(nb, f, [randn(3)]), run(torch, f, [randn(3)])
    assert_close(ours[0][0], theirs[0][0], "values")
    with pytest.raises(AssertionError, match="grad of input 0"):
        compare(f, [randn(3)])



# ---------------------------------------------------------------- more modules

MORE = [
    ("InstanceNorm1d", (3,), {}, (2, 3, 5)),
    ("InstanceNorm2d", (3,), {"affine": True}, (2, 3, 3, 4)),
    ("InstanceNorm1d", (3,), {"affine": True, "track_running_stats": True}, (2, 3, 5)),
    ("RMSNorm", ((3, 4),), {}, (2, 3, 4)),
    ("RMSNorm", (4,), {"eps": 1e-3}, (2, 3, 4)),
    ("LocalResponseNorm", (3,), {}, (2, 5, 3, 2)),
    ("Bilinear", (3, 2, 4), {}, None),
    ("PixelShuffle", (2,), {}, (1, 8, 2, 3)),
    ("PixelUnshuffle", (2,), {}, (1, 2, 4, 6)),
    ("Unfold", ((2, 3),), {"padding": 1, "stride": (1, 2)}, (2, 2, 4, 5)),
    ("Fold", ((4, 5), (2, 2)), {"stride": 2}, (2, 8, 4)),
    ("Fold", ((4, 5), 2), {"padding": 1}, (1, 8, 30)),
    ("Flatten", (), {}, (2, 3, 4)),
    ("MaxPool1d", (3,), {"stride": 2, "padding": 1, "return_indices": True}, (2, 3, 8)),
    ("MaxPool3d", (2,), {"ceil_mode": True}, (1, 2, 3, 5, 4)),
    ("AvgPool1d", (3,), {"stride": 2, "padding": 1, "count_include_pad": False}, (2, 3, 8)),
    ("AvgPool3d", (2,), {"ceil_mode": True, "divisor_override": 3}, (1, 2, 3, 5, 4)),
    ("AdaptiveAvgPool1d", (3,), {}, (2, 3, 7)),
    ("AdaptiveAvgPool3d", ((2, 1, 3),), {}, (1, 2, 3, 5, 4)),
    ("AdaptiveMaxPool1d", (3,), {"return_indices": True}, (2, 3, 7)),
    ("AdaptiveMaxPool2d", ((2, 3),), {}, (1, 2, 5, 7)),
    ("AdaptiveMaxPool3d", (2,), {}, (1, 2, 3, 5, 4)),
    ("LPPool1d", (2, 3), {"stride": 2}, (2, 3, 8)),
    ("LPPool2d", (3, 2), {}, (1, 2, 4, 5)),
    ("CosineSimilarity", (), {}, "pair"),
    ("PairwiseDistance", (), {"keepdim": True}, "pair"),
]


@pytest.mark.parametrize("case", MORE, ids=lambda c: f"{c[0]}-{c[1]}-{c[2]}")
def test_more_modules(case):
    name, args, kw, shape = case
    nm, tm = build_pair(name, *args, **kw)
    if name == "Bilinear":
        arrays = [randn(5, 3), randn(5, 2, seed=2)]
    elif shape == "pair":
        arrays = [randn(4, 5), randn(4, 5, seed=2)]
    else:
        arrays = [np.abs(randn(*shape)) + 0.1 if name.startswith("LPPool") else randn(*shape)]
    compare(module_fn(nm, tm), arrays, nm, tm)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("with_weights", [False, True])
def test_embedding_bag(mode, with_weights):
    if with_weights and mode != "sum":
        pytest.skip("per_sample_weights is for mode='sum' only")
    nm, tm = build_pair("EmbeddingBag", 6, 3, mode=mode)
    arrays = [np.array([1, 2, 4, 5, 4, 3, 2]), np.array([0, 2, 2, 5])]
    if with_weights:
        arrays.append(randn(7, seed=2))
    compare(module_fn(nm, tm, lambda lib, m, i, o, *w: m(i, o, *w)), arrays, nm, tm)


@pytest.mark.parametrize("kw", [{}, {"norm_first": True, "batch_first": True}], ids=str)
def test_transformer_decoder_layer(kw):
    nm, tm = build_pair("TransformerDecoderLayer", 4, 2, dim_feedforward=6, dropout=0.0, **kw)
    bf = kw.get("batch_first", False)
    tgt = randn(2, 3, 4) if bf else randn(3, 2, 4)
    mem = randn(2, 5, 4, seed=2) if bf else randn(5, 2, 4, seed=2)
    causal = np.triu(np.ones((3, 3), bool), 1)
    pad = np.array([[False, False, True, False, False], [False, False, False, False, True]])
    compare(module_fn(nm, tm, lambda lib, m, t, s, c, p: m(
        t, s, tgt_mask=c, memory_key_padding_mask=p)), [tgt, mem, causal, pad], nm, tm)


def test_transformer():
    nm, tm = build_pair("Transformer", 4, 2, num_encoder_layers=2, num_decoder_layers=1,
                        dim_feedforward=6, dropout=0.0)
    causal = np.triu(np.ones((3, 3), bool), 1)
    compare(module_fn(nm, tm, lambda lib, m, s, t, c: m(s, t, tgt_mask=c)),
            [randn(5, 2, 4), randn(3, 2, 4, seed=2), causal], nm, tm)


MORE_LOSSES = [
    ("MSELoss", {}, lambda: [randn(3, 4), randn(3, 4, seed=2)]),
    ("L1Loss", {"reduction": "sum"}, lambda: [randn(3, 4), randn(3, 4, seed=2)]),
    ("BCELoss", {}, lambda: [softmax_np(randn(3, 4)), PROBS[:3]]),
    ("PoissonNLLLoss", {}, lambda: [randn(3, 4), np.abs(randn(3, 4, seed=2))]),
    ("PoissonNLLLoss", {"log_input": False, "full": True},
     lambda: [np.abs(randn(3, 4)) + 0.1, np.abs(randn(3, 4, seed=2)) * 3]),
    ("GaussianNLLLoss", {}, lambda: [randn(3, 4), randn(3, 4, seed=2),
                                     np.abs(randn(3, 4, seed=3)) + 0.1]),
    ("GaussianNLLLoss", {"full": True, "reduction": "sum"},
     lambda: [randn(3, 4), randn(3, 4, seed=2), np.abs(randn(3, 1, seed=3)) + 0.1]),
    ("MarginRankingLoss", {"margin": 0.3}, lambda: [randn(5), randn(5, seed=2),
                                                    np.array([1., -1, 1, 1, -1])]),
    ("HingeEmbeddingLoss", {"margin": 1.5}, lambda: [randn(5), np.array([1., -1, 1, 1, -1])]),
    ("SoftMarginLoss", {}, lambda: [randn(5), const([1., -1, 1, 1, -1])]),
    ("CosineEmbeddingLoss", {"margin": 0.2}, lambda: [randn(4, 3), randn(4, 3, seed=2),
                                                      np.array([1., -1, -1, 1])]),
    ("TripletMarginLoss", {"margin": 0.5}, lambda: [randn(4, 3), randn(4, 3, seed=2),
                                                    randn(4, 3, seed=3)]),
    ("TripletMarginLoss", {"swap": True, "p": 1.0}, lambda: [randn(4, 3), randn(4, 3, seed=2),
                                                             randn(4, 3, seed=3)]),
    ("MultiMarginLoss", {}, lambda: [LOGITS, LABELS]),
    ("MultiMarginLoss", {"p": 2, "margin": 0.7}, lambda: [LOGITS, LABELS]),
    ("MultiLabelMarginLoss", {}, lambda: [LOGITS, np.array([[3, 0, -1, 1]] * 5)]),
    ("MultiLabelSoftMarginLoss", {}, lambda: [LOGITS, (PROBS > 0.25).astype(float)]),
]


@pytest.mark.parametrize("reduction", [None, "none"])
@pytest.mark.parametrize("case", MORE_LOSSES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_more_losses(case, reduction):
    name, kw, inputs = case
    kw = dict(kw, **({"reduction": reduction} if reduction else {}))

    def f(lib, *xs):
        return getattr(lib.nn, name)(**kw)(*xs)
    compare(f, inputs())


# ---------------------------------------------------------------- second order (create_graph)

SECOND = [
    ("Linear", (3, 4), {}, (2, 3)),
    ("Conv1d", (2, 3, 3), {"padding": 1, "groups": 1}, (2, 2, 5)),
    ("Conv2d", (2, 4, 3), {"stride": 2, "padding": 1, "groups": 2}, (1, 2, 5, 5)),
    ("ConvTranspose2d", (2, 3, 3), {"stride": 2, "output_padding": 1}, (1, 2, 3, 3)),
    ("LayerNorm", (4,), {}, (3, 4)),
    ("GroupNorm", (2, 4), {}, (2, 4, 3)),
    ("BatchNorm1d", (3,), {}, (4, 3)),
    ("AvgPool2d", (2,), {"padding": 1, "count_include_pad": False}, (1, 2, 4, 5)),
    ("MaxPool2d", (2,), {"stride": 1}, (1, 2, 4, 5)),
    ("AdaptiveAvgPool2d", ((2, 3),), {}, (1, 2, 5, 4)),
    ("Upsample", (), {"size": (5, 3), "mode": "bilinear"}, (1, 2, 3, 4)),
    ("RNN", (3, 4), {"bidirectional": True}, (3, 2, 3)),
    ("LSTM", (3, 4), {"proj_size": 2}, (3, 2, 3)),
    ("GRU", (3, 4), {"num_layers": 2}, (3, 2, 3)),
    ("ELU", (), {}, (3, 4)), ("GELU", (), {}, (3, 4)), ("Softplus", (), {}, (3, 4)),
    ("Mish", (), {}, (3, 4)), ("SiLU", (), {}, (3, 4)), ("LogSoftmax", (1,), {}, (3, 4)),
    ("Softmax", (1,), {}, (3, 4)), ("SELU", (), {}, (3, 4)), ("Tanh", (), {}, (3, 4)),
]


@pytest.mark.parametrize("case", SECOND, ids=lambda c: f"{c[0]}-{c[2]}")
def test_second_order(case):
    name, args, kw, shape = case
    nm, tm = build_pair(name, *args, **kw)
    compare2(module_fn(nm, tm), [randn(*shape)], nm, tm)


def test_second_order_attention():
    nm, tm = build_pair("MultiheadAttention", 4, 2)
    compare2(module_fn(nm, tm), [randn(3, 2, 4), randn(4, 2, 4, seed=2), randn(4, 2, 4, seed=3)],
             nm, tm)


@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.2}, {"ignore_index": 3}], ids=str)
def test_second_order_cross_entropy(kw):
    compare2(lambda lib, x, y: lib.nn.CrossEntropyLoss(**kw)(x, y), [LOGITS, LABELS])


# ---------------------------------------------------------------- float32 (the default dtype)

FLOAT32 = [
    ("Linear", (3, 4), (2, 3)), ("Conv2d", (2, 3, 3), (1, 2, 5, 5)),
    ("ConvTranspose2d", (2, 3, 3), (1, 2, 3, 3)), ("BatchNorm2d", (2,), (2, 2, 3, 3)),
    ("LayerNorm", (4,), (3, 4)), ("GroupNorm", (2, 4), (2, 4, 3)), ("LSTM", (3, 4), (3, 2, 3)),
    ("GRU", (3, 4), (3, 2, 3)), ("MaxPool2d", (2,), (1, 2, 4, 4)),
    ("AvgPool2d", (2,), (1, 2, 4, 4)), ("GELU", (), (3, 4)), ("Softmax", (1,), (3, 4)),
]


@pytest.mark.parametrize("case", FLOAT32, ids=lambda c: c[0])
def test_float32(case):
    name, args, shape = case
    nm, tm = build_pair(name, *args, float32=True)
    f = module_fn(nm, tm)
    x = randn(*shape).astype(np.float32)
    compare_dtypes(f, [x])
    compare(f, [x], nm, tm, rtol=2e-5, atol=1e-6)
