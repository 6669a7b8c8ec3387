"""Data-parallel training over processes started by `torchrun` (torch.distributed), for any trainer.

`torchrun --nproc_per_node N -m cli train-gan ...` starts N copies of the command with RANK,
WORLD_SIZE and MASTER_ADDR/PORT set; `init()` joins them (gloo on CPU, nccl on GPU). Each rank
then computes on its share of every global batch, and the gradients are averaged before each
optimiser step, so the update is that of one process on the whole batch:

    mean over B of grad(l_i) = (1/W) sum_r  mean over rank r's B/W rows of grad(l_i)

For the result to equal one process's (not merely in expectation), every rank must also see the
same random numbers one process would: `GlobalBatchDraws` makes every random draw whose first
dimension is the local batch draw the whole global batch from the (identically seeded) global
RNG and keep this rank's slice, so the RNG streams of all ranks stay equal to one process's.
This holds for kinds whose losses are means of per-row (or per-pack) terms: gan and conditional
with every objective and penalty. Kinds with batch-level terms (meg's shuffled pairs, ogan's
batch correlation, ebm-langevin's replay buffer) still train data-parallel, equal across ranks
only up to those terms.

What the GAN trainer (`textgan.gan.trainer.run`) calls: `init()`; `local_batch(B)`; draws under
`GlobalBatchDraws`; `average_gradients_on_step(optimizers)`; `mean_across_ranks(losses)`;
`check_same_across_ranks(digest)`; file writes on `is_main()` only, then `barrier()`.

The similarity trainer's losses couple the rows of a batch (a softmax over class centres split
across ranks, the distiller's in-batch similarity matrix), so it works differently (second half
of this file): each rank embeds its rows `row_range(B)` under `SliceDropout`, `gather_rows` hands
every rank the whole batch with autograd, every rank computes the whole batch's loss and
back-propagates loss / W, and `sum_gradients` sums the replicated parameters' gradients: each
term then reaches each parameter exactly once, as in one process.
"""
from __future__ import annotations

import atexit
import os

import torch
from torch.overrides import TorchFunctionMode

from textgan.common.errors import InputError


def requested_world() -> int:
    """WORLD_SIZE set by torchrun (1 when started as a plain process)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def init() -> tuple[int, int]:
    """Join the torchrun process group if there is one; (rank, world size)."""
    import torch.distributed as dist

    if requested_world() <= 1:
        return 0, 1
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        atexit.register(lambda: dist.is_initialized() and dist.destroy_process_group())
    return dist.get_rank(), dist.get_world_size()


def world() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Only rank 0 writes files (checkpoints, metrics, the model folder)."""
    return rank() == 0


def barrier() -> None:
    import torch.distributed as dist

    if world() > 1:
        dist.barrier()


def local_batch(global_batch: int, option: str = "--batch-size") -> int:
    """Rows each rank computes per step: global_batch / world, which must divide evenly."""
    w = world()
    if global_batch % w:
        raise InputError(f"{option} {global_batch} does not split over {w} processes; use a multiple of {w}")
    return global_batch // w


def _device(t: torch.Tensor) -> torch.Tensor:
    import torch.distributed as dist

    return t.cuda() if dist.get_backend() == "nccl" else t


def average_gradients(params) -> None:
    """grad <- mean over ranks of grad, in one all-reduce (ranks' local means -> the global mean)."""
    import torch.distributed as dist

    grads = [p.grad for p in params if p.grad is not None]
    if world() <= 1 or not grads:
        return
    flat = _device(torch.cat([g.reshape(-1) for g in grads]))
    dist.all_reduce(flat)
    flat = flat.to(grads[0].device) / world()
    pos = 0
    for g in grads:
        g.copy_(flat[pos:pos + g.numel()].view_as(g))
        pos += g.numel()


def average_gradients_on_step(optimizers) -> None:
    """Every `opt.step()` first averages its parameters' gradients over the ranks."""
    for opt in optimizers:
        opt.register_step_pre_hook(
            lambda o, args, kwargs: average_gradients([p for g in o.param_groups for p in g["params"]]))


def mean_across_ranks(values: dict[str, float]) -> dict[str, float]:
    """The mean over ranks of each logged number (a batch-mean loss -> its global-batch value)."""
    import torch.distributed as dist

    if world() <= 1 or not values:
        return values
    t = _device(torch.tensor(list(values.values()), dtype=torch.float64))
    dist.all_reduce(t)
    return {k: float(v) / world() for k, v in zip(values, t.cpu().tolist())}


def check_same_across_ranks(value: str, what: str) -> None:
    """Refuse to train when the ranks were given different data (or config): every rank raises."""
    import torch.distributed as dist

    if world() <= 1:
        return
    seen: list = [None] * world()
    dist.all_gather_object(seen, value)
    if len(set(seen)) > 1:
        odd = [r for r, v in enumerate(seen) if v != seen[0]]
        raise InputError(f"the torchrun processes were given different {what} (ranks {odd} differ from rank 0); "
                         "every rank must read the same files")


class GlobalBatchDraws(TorchFunctionMode):
    """Random draws of the local batch size draw the global batch and keep this rank's rows.

    Inside this mode, `torch.randn/rand/randint/normal-free factory draws` of shape (b, ...) with
    b == local batch become the rank's slice [r*b:(r+1)*b] of the same draw of shape (B, ...),
    B = b * world: every rank consumes the global RNG exactly as one process at batch B does.
    Draws with an explicit `generator=` or another first dimension pass through unchanged.
    """

    FUNCS = {torch.randn: "size", torch.rand: "size", torch.randint: "randint"}

    def __init__(self, local: int, rank_: int, world_: int):
        super().__init__()
        self.local, self.rank, self.world = local, rank_, world_

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        how = self.FUNCS.get(func)
        if how is None or kwargs.get("generator") is not None or self.world == 1:
            return func(*args, **kwargs)
        if how == "size":
            size = tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)) else args
            rest = ()
        else:  # randint(high, size) or randint(low, high, size)
            if "size" in kwargs or not args or not isinstance(args[-1], (tuple, list, torch.Size)):
                return func(*args, **kwargs)
            size, rest = tuple(args[-1]), args[:-1]
        if not size or size[0] != self.local or not all(isinstance(s, int) for s in size):
            return func(*args, **kwargs)
        full = (self.local * self.world, *size[1:])
        out = func(*rest, full, **kwargs) if how == "randint" else func(full, **kwargs)
        return out[self.rank * self.local:(self.rank + 1) * self.local]


# --- pieces for trainers whose loss couples the rows of a batch (the similarity trainer) ---------
# Every rank embeds its contiguous slice of the global batch, the slices are gathered (with
# autograd: the backward sums each rank's gradient into the rows' owner) and every rank computes
# the loss of the whole batch. Each rank back-propagates loss / W and the gradients of replicated
# parameters are summed, so every term reaches each parameter exactly once. Parameters sharded
# across ranks (the margin head's class centres) are not reduced at all.

def row_range(n: int, rank_: int | None = None, world_: int | None = None) -> tuple[int, int]:
    """This rank's contiguous rows [lo, hi) of n; slice sizes differ by at most one."""
    r = rank() if rank_ is None else rank_
    w = world() if world_ is None else world_
    base, extra = divmod(n, w)
    lo = r * base + min(r, extra)
    return lo, lo + base + (r < extra)


class _GatherRows(torch.autograd.Function):
    """Forward: the ranks' row slices concatenated. Backward: the whole gradient summed over ranks
    (every rank's loss touches every row), then this rank's rows."""

    @staticmethod
    def forward(ctx, local: torch.Tensor, n: int) -> torch.Tensor:
        import torch.distributed as dist

        w = world()
        sizes = [row_range(n, r, w) for r in range(w)]
        ctx.lo, ctx.hi = sizes[rank()]
        width = -(-n // w)  # all_gather needs equal shapes: pad every slice to ceil(n / w) rows
        padded = _device(local.new_zeros((width, *local.shape[1:])))
        padded[: len(local)] = local
        parts = [torch.empty_like(padded) for _ in range(w)]
        dist.all_gather(parts, padded)
        return torch.cat([p[: hi - lo] for p, (lo, hi) in zip(parts, sizes)]).to(local.device)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _SumAcrossRanks.apply(grad.contiguous())[ctx.lo:ctx.hi], None


class _SumAcrossRanks(torch.autograd.Function):
    """all_reduce(SUM) whose backward is all_reduce(SUM) of the gradients."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        out = _device(t.detach().clone())
        dist.all_reduce(out)
        return out.to(t.device)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _SumAcrossRanks.apply(grad.contiguous())


def gather_rows(local: torch.Tensor, n: int) -> torch.Tensor:
    """(n, ...) rows of all ranks in rank order from each rank's `row_range(n)` slice, with autograd."""
    return local if world() <= 1 else _GatherRows.apply(local, n)


def sum_across_ranks(t: torch.Tensor) -> torch.Tensor:
    """Sum over ranks with autograd (the backward sums the ranks' gradients too)."""
    return t if world() <= 1 else _SumAcrossRanks.apply(t)


def max_across_ranks(t: torch.Tensor) -> torch.Tensor:
    """Element-wise max over ranks, without gradient (a log-sum-exp shift)."""
    import torch.distributed as dist

    t = t.detach().clone()
    if world() > 1:
        dev = _device(t)
        dist.all_reduce(dev, op=dist.ReduceOp.MAX)
        t = dev.to(t.device)
    return t


def sum_gradients(params) -> None:
    """grad <- sum over ranks of grad, in one all-reduce; a missing grad counts as zeros."""
    import torch.distributed as dist

    params = [p for p in params if p.requires_grad]
    if world() <= 1 or not params:
        return
    for p in params:
        if p.grad is None:  # a rank whose slice of the batch was empty
            p.grad = torch.zeros_like(p)
    flat = _device(torch.cat([p.grad.reshape(-1) for p in params]))
    dist.all_reduce(flat)
    flat, pos = flat.to(params[0].device), 0
    for p in params:
        p.grad.copy_(flat[pos:pos + p.numel()].view_as(p))
        pos += p.numel()


def broadcast_object(obj):
    """Rank 0's `obj` on every rank (JSON-able values: results, tokenizer strings)."""
    import torch.distributed as dist

    if world() <= 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def full_rows(local: torch.Tensor, n: int) -> torch.Tensor:
    """The whole (n, ...) tensor from each rank's `row_range(n)` slice, without gradient."""
    with torch.no_grad():
        return gather_rows(local.detach(), n)


class SliceDropout(TorchFunctionMode):
    """Dropout on rows [lo, hi) of a batch of n draws the mask of all n rows and keeps its slice.

    Each rank then consumes the global RNG exactly as one process at batch n does, and a row's
    mask does not depend on which process computes it. Inputs must be padded to the global
    batch's width (the trainer pads the whole batch, then slices rows). Dropout inside fused
    kernels (a multi-layer GRU's inter-layer dropout, SDPA attention dropout) is not seen here.
    """

    def __init__(self, lo: int, hi: int, n: int):
        super().__init__()
        self.lo, self.hi, self.n = lo, hi, n

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is not torch.nn.functional.dropout:
            return func(*args, **kwargs)
        x = args[0]
        p = kwargs.get("p", args[1] if len(args) > 1 else 0.5)
        training = kwargs.get("training", args[2] if len(args) > 2 else True)
        if not training or p == 0 or x.dim() == 0 or x.shape[0] != self.hi - self.lo:
            return func(*args, **kwargs)
        keep = torch.dropout(torch.ones((self.n, *x.shape[1:]), dtype=x.dtype, device=x.device), p, True)
        return x * keep[self.lo:self.hi]


def gather_objects(obj) -> list:
    """Every rank's `obj` (JSON-able), in rank order, on every rank."""
    import torch.distributed as dist

    if world() <= 1:
        return [obj]
    seen: list = [None] * world()
    dist.all_gather_object(seen, obj)
    return seen
