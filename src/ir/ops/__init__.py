"""The op table. Importing this package declares every op (one module per op family)."""
from . import (
    activation,  # noqa: F401
    attention,  # noqa: F401
    cast,  # noqa: F401
    control,  # noqa: F401
    detection,  # noqa: F401
    elementwise,  # noqa: F401
    elementwise_logic,  # noqa: F401
    fused,  # noqa: F401
    gather_scatter,  # noqa: F401
    kernel_call,  # noqa: F401
    loss,  # noqa: F401
    ml,  # noqa: F401
    ml_trees,  # noqa: F401
    nn_conv,  # noqa: F401
    nn_linalg,  # noqa: F401
    nn_norm,  # noqa: F401
    nn_pool,  # noqa: F401
    nn_sample,  # noqa: F401
    quant,  # noqa: F401
    quantum,  # noqa: F401
    random_ops,  # noqa: F401
    reduce,  # noqa: F401
    resize,  # noqa: F401
    rnn,  # noqa: F401
    sequence,  # noqa: F401
    shape,  # noqa: F401
    shape_generate,  # noqa: F401
    shape_select,  # noqa: F401
    shape_slicing,  # noqa: F401
    signal,  # noqa: F401
    softmax,  # noqa: F401
    strings,  # noqa: F401
    text_features,  # noqa: F401
    training,  # noqa: F401
)
from .registry import OPS, InferCtx, OpDef, RefCtx, lookup, op

__all__ = ["OPS", "InferCtx", "OpDef", "RefCtx", "lookup", "op"]
