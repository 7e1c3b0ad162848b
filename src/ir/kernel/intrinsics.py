"""Functions that build kernel expressions which are not Python operators: math intrinsics,
logic, select, casts, vectors, warp ops and builtins. Python numbers become constants of the
other operands' type, as with operators."""
from __future__ import annotations

from ..dtype import DType
from .expr import (
    ActiveMask,
    Ballot,
    Binary,
    Bitcast,
    Broadcast,
    Builtin,
    Cast,
    Expr,
    Extract,
    Insert,
    MakeVector,
    Math,
    Number,
    Select,
    Shuffle,
    Swizzle,
    Unary,
    Vote,
    binary,
    lift,
)
from .types import BOOL, I32, ScalarType, ShuffleMode, VoteMode, as_type


def _typed(args: tuple[Expr | Number, ...]) -> tuple[Expr, ...]:
    like = next((a.type for a in args if isinstance(a, Expr)), None)
    if like is None:
        raise TypeError("at least one operand must be an expression")
    return tuple(lift(a, like) for a in args)


def math(fn: str, *args: Expr | Number) -> Math:
    """Any intrinsic of expr.MATH by name."""
    return Math(fn, _typed(args))


def exp(x: Expr) -> Math: return Math("exp", (x,))
def log(x: Expr) -> Math: return Math("log", (x,))
def sqrt(x: Expr) -> Math: return Math("sqrt", (x,))
def rsqrt(x: Expr) -> Math: return Math("rsqrt", (x,))
def sin(x: Expr) -> Math: return Math("sin", (x,))
def cos(x: Expr) -> Math: return Math("cos", (x,))
def tanh(x: Expr) -> Math: return Math("tanh", (x,))
def erf(x: Expr) -> Math: return Math("erf", (x,))
def floor(x: Expr) -> Math: return Math("floor", (x,))
def ceil(x: Expr) -> Math: return Math("ceil", (x,))
def isnan(x: Expr) -> Math: return Math("isnan", (x,))
def pow(x: Expr | Number, y: Expr | Number) -> Math: return math("pow", x, y)  # noqa: A001
def fma(a: Expr | Number, b: Expr | Number, c: Expr | Number) -> Math: return math("fma", a, b, c)
def minimum(a: Expr | Number, b: Expr | Number) -> Expr: return binary("min", a, b)
def maximum(a: Expr | Number, b: Expr | Number) -> Expr: return binary("max", a, b)
def floordiv(a: Expr | Number, b: Expr | Number) -> Expr: return binary("floordiv", a, b)
def floormod(a: Expr | Number, b: Expr | Number) -> Expr: return binary("floormod", a, b)


def land(a: Expr, b: Expr) -> Binary:
    """Short-circuit `a && b` (b is not evaluated where a is false)."""
    return Binary("land", a, b)


def lor(a: Expr, b: Expr) -> Binary:
    return Binary("lor", a, b)


def lnot(a: Expr) -> Unary:
    return Unary("not", a)


def select(cond: Expr, a: Expr | Number, b: Expr | Number) -> Select:
    x, y = _typed((a, b))
    return Select(cond, x, y)


def cast(x: Expr, t: ScalarType | DType | str) -> Cast:
    return Cast(x, as_type(t))


def bitcast(x: Expr, t: ScalarType | DType | str) -> Bitcast:
    return Bitcast(x, as_type(t))


def broadcast(x: Expr, lanes: int) -> Broadcast:
    return Broadcast(x, lanes)


def vector(*elems: Expr | Number) -> MakeVector:
    return MakeVector(_typed(elems))


def extract(v: Expr, lane: int) -> Extract:
    return Extract(v, lane)


def insert(v: Expr, lane: int, value: Expr | Number) -> Insert:
    return Insert(v, lane, lift(value, v.type.element))


def swizzle(v: Expr, *lanes: int) -> Swizzle:
    return Swizzle(v, tuple(lanes))


def shuffle(mode: ShuffleMode | str, x: Expr, lane: Expr | int,
            width: int | None = None) -> Shuffle:
    return Shuffle(ShuffleMode(mode), x, lift(lane, I32), width)


def ballot(pred: Expr) -> Ballot:
    return Ballot(pred)


def activemask() -> ActiveMask:
    return ActiveMask()


def vote(mode: VoteMode | str, pred: Expr) -> Vote:
    return Vote(VoteMode(mode), pred, BOOL)


def lane_id(type: ScalarType | DType | str = I32) -> Builtin:
    return Builtin("lane_id", 0, as_type(type))


def warp_size(type: ScalarType | DType | str = I32) -> Builtin:
    return Builtin("warp_size", 0, as_type(type))


def builtin(name: str, axis: int = 0, type: ScalarType | DType | str = I32) -> Builtin:
    return Builtin(name, axis, as_type(type))
