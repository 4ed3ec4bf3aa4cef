"""Building blocks shared by the CoTracker models: encoder, attention, sampling, embeddings.

Module and parameter names follow the official checkpoints (``fnet.layer1.0.conv1``,
``updateformer.virual_tracks`` with its historical spelling, ...), so the official
state dicts load with ``strict=True``. Everything is plain PyTorch.

Coordinates inside the models are ``(x, y)`` pixels of a feature map or of the
model-resolution frame with **integer values at pixel centres** and bilinear
sampling in the align-corners sense (pixel centre ``0`` is the first sample,
``W - 1`` the last), which is what the official models were trained with.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------------------------------------
# Convolutional encoder


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with parameter-free instance norm and a residual connection.

    Args:
      in_planes: input channels.
      planes: output channels.
      stride: stride of the first convolution; a 1x1 projection (``downsample``) matches
        the residual when it is not 1.
    """

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, padding=1, stride=stride)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1)
        # The official encoders use InstanceNorm2d without affine parameters or running
        # statistics, so these layers own no state-dict entries.
        self.norm1 = nn.InstanceNorm2d(planes)
        self.norm2 = nn.InstanceNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride), nn.InstanceNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.norm1(self.conv1(x)))
        y = self.relu(self.norm2(self.conv2(y)))
        if self.downsample is not None:
            x = self.downsample(x)
        return self.relu(x + y)


class BasicEncoder(nn.Module):
    """Per-frame feature encoder (``fnet``) of every CoTracker version.

    Four residual stages (64, 96, 128, 128 channels at strides 2, 4, 8, 16 of the input)
    are each resized to ``1/stride`` of the input, concatenated and fused into
    ``output_dim`` channels.

    Args:
      input_dim: image channels.
      output_dim: feature channels (128 in every released model).
      stride: output stride (4 in every released model).
    """

    def __init__(self, input_dim: int = 3, output_dim: int = 128, stride: int = 4):
        super().__init__()
        self.stride = stride
        half = output_dim // 2
        self.conv1 = nn.Conv2d(input_dim, half, kernel_size=7, stride=2, padding=3)
        self.norm1 = nn.InstanceNorm2d(half)
        self.relu1 = nn.ReLU(inplace=True)
        dims = (half, output_dim // 4 * 3, output_dim, output_dim)
        strides = (1, 2, 2, 2)
        prev = half
        for i, (dim, s) in enumerate(zip(dims, strides), start=1):
            self.add_module(f"layer{i}", nn.Sequential(ResidualBlock(prev, dim, s), ResidualBlock(dim, dim, 1)))
            prev = dim
        self.conv2 = nn.Conv2d(sum(dims), output_dim * 2, kernel_size=3, padding=1)
        self.norm2 = nn.InstanceNorm2d(output_dim * 2)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(output_dim * 2, output_dim, kernel_size=1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[F, 3, H, W] normalised frames -> [F, output_dim, H // stride, W // stride]."""
        h, w = x.shape[-2:]
        x = self.relu1(self.norm1(self.conv1(x)))
        outs = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            outs.append(F.interpolate(x, (h // self.stride, w // self.stride), mode="bilinear", align_corners=True))
        x = self.relu2(self.norm2(self.conv2(torch.cat(outs, dim=1))))
        return self.conv3(x)


def encode_frames(fnet: BasicEncoder, video: torch.Tensor, chunk: int) -> torch.Tensor:
    """Run the encoder over frames in chunks so activation memory stays bounded.

    Instance norm works per frame, so chunking does not change the result.

    Args:
      fnet: the encoder.
      video: [T, 3, H, W] float, values 0..255.
      chunk: frames per encoder call (>= 1).

    Returns:
      [T, C, H / stride, W / stride] features.
    """
    outs = [fnet(2 * (video[i : i + chunk] / 255.0) - 1.0) for i in range(0, video.shape[0], max(1, chunk))]
    return torch.cat(outs, dim=0)


# ---------------------------------------------------------------------------------------------
# Transformer pieces


class Mlp(nn.Module):
    """Linear -> activation -> linear (``fc1`` / ``fc2``)."""

    def __init__(self, in_features: int, hidden_features: int, out_features: int | None = None, act=nn.GELU):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act()
        self.fc2 = nn.Linear(hidden_features, out_features or in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def tanh_gelu() -> nn.Module:
    """GELU with the tanh approximation (the transformer blocks were trained with it)."""
    return nn.GELU(approximate="tanh")


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, keep: torch.Tensor | None) -> torch.Tensor:
    """Softmax attention over heads.

    Args:
      q: [B, heads, N1, d]; k, v: [B, heads, N2, d].
      scale: logit scale.
      keep: optional bool mask broadcastable to [B, heads, N1, N2]; False entries get the
        most negative finite logit. A row with no True entry therefore attends uniformly,
        as the official models do (they add ``-finfo.max`` rather than ``-inf``).

    Returns:
      [B, heads, N1, d].
    """
    if keep is None:
        return F.scaled_dot_product_attention(q, k, v, scale=scale)
    sim = (q @ k.transpose(-2, -1)) * scale
    sim = sim.masked_fill(~keep, -torch.finfo(sim.dtype).max)
    return sim.softmax(dim=-1) @ v


class Attention(nn.Module):
    """Multi-head (cross-)attention with separate query and key/value projections.

    Args:
      query_dim: token width of the queries.
      context_dim: token width of the context (defaults to ``query_dim``).
      num_heads: heads.
      dim_head: width per head.
      qkv_bias: bias on the projections.
    """

    def __init__(self, query_dim: int, context_dim: int | None = None, num_heads: int = 8, dim_head: int = 48,
                 qkv_bias: bool = True):
        super().__init__()
        inner = num_heads * dim_head
        self.heads = num_heads
        self.dim_head = dim_head
        self.scale = dim_head**-0.5
        self.to_q = nn.Linear(query_dim, inner, bias=qkv_bias)
        self.to_kv = nn.Linear(context_dim or query_dim, inner * 2, bias=qkv_bias)
        self.to_out = nn.Linear(inner, query_dim)

    def forward(
        self, x: torch.Tensor, context: torch.Tensor | None = None, keep: torch.Tensor | None = None
    ) -> torch.Tensor:
        b, n1, _ = x.shape
        context = x if context is None else context
        n2 = context.shape[1]
        q = self.to_q(x).reshape(b, n1, self.heads, self.dim_head).transpose(1, 2)
        k, v = self.to_kv(context).chunk(2, dim=-1)
        k = k.reshape(b, n2, self.heads, self.dim_head).transpose(1, 2)
        v = v.reshape(b, n2, self.heads, self.dim_head).transpose(1, 2)
        out = attend(q, k, v, self.scale, keep)
        return self.to_out(out.transpose(1, 2).reshape(b, n1, self.heads * self.dim_head))


class AttnBlock(nn.Module):
    """Pre-norm self-attention block (norms without parameters, tanh-GELU MLP)."""

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(hidden_size, num_heads=num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden_size, int(hidden_size * mlp_ratio), act=tanh_gelu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CrossAttnBlock(nn.Module):
    """Pre-norm cross-attention block; the context gets its own affine LayerNorm."""

    def __init__(self, hidden_size: int, context_dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.norm_context = nn.LayerNorm(hidden_size)
        self.cross_attn = Attention(hidden_size, context_dim=context_dim, num_heads=num_heads)
        self.norm2 = nn.LayerNorm(hidden_size, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(hidden_size, int(hidden_size * mlp_ratio), act=tanh_gelu)

    def forward(self, x: torch.Tensor, context: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.cross_attn(self.norm1(x), context=self.norm_context(context), keep=keep)
        return x + self.mlp(self.norm2(x))


class EfficientUpdateFormer(nn.Module):
    """The track-update transformer of CoTracker2/3: time attention + attention through virtual tracks.

    Tokens are ``[B, N, T, D]`` (points x frames). Each of the ``time_depth`` blocks attends
    along time for every track; after each time block (when the depths are equal) the
    points exchange information through ``num_virtual_tracks`` learned virtual tracks:
    virtual <- points, virtual <-> virtual, points <- virtual.

    Args:
      space_depth, time_depth: number of space / time blocks.
      input_dim: token width of the input.
      hidden_size: transformer width.
      num_heads: heads per attention.
      output_dim: width of the output (with ``linear_layer_for_vis_conf`` the last two
        channels come from a separate ``vis_conf_head``).
      mlp_ratio: MLP hidden width / hidden_size.
      num_virtual_tracks: number of virtual tracks.
      add_space_attn: build the space blocks.
      linear_layer_for_vis_conf: split the head into ``flow_head`` (output_dim - 2) and
        ``vis_conf_head`` (2), as CoTracker3 does.
    """

    def __init__(self, space_depth: int = 6, time_depth: int = 6, input_dim: int = 456, hidden_size: int = 384,
                 num_heads: int = 8, output_dim: int = 130, mlp_ratio: float = 4.0, num_virtual_tracks: int = 64,
                 add_space_attn: bool = True, linear_layer_for_vis_conf: bool = False):
        super().__init__()
        self.num_virtual_tracks = num_virtual_tracks
        self.linear_layer_for_vis_conf = linear_layer_for_vis_conf
        self.input_transform = nn.Linear(input_dim, hidden_size)
        if linear_layer_for_vis_conf:
            self.flow_head = nn.Linear(hidden_size, output_dim - 2)
            self.vis_conf_head = nn.Linear(hidden_size, 2)
        else:
            self.flow_head = nn.Linear(hidden_size, output_dim)
        # "virual" (sic) is the official parameter name.
        self.virual_tracks = nn.Parameter(torch.randn(1, num_virtual_tracks, 1, hidden_size))
        self.time_blocks = nn.ModuleList([AttnBlock(hidden_size, num_heads, mlp_ratio) for _ in range(time_depth)])
        self.space_depth = space_depth if add_space_attn else 0
        if add_space_attn:
            self.space_virtual_blocks = nn.ModuleList(
                [AttnBlock(hidden_size, num_heads, mlp_ratio) for _ in range(space_depth)]
            )
            self.space_point2virtual_blocks = nn.ModuleList(
                [CrossAttnBlock(hidden_size, hidden_size, num_heads, mlp_ratio) for _ in range(space_depth)]
            )
            self.space_virtual2point_blocks = nn.ModuleList(
                [CrossAttnBlock(hidden_size, hidden_size, num_heads, mlp_ratio) for _ in range(space_depth)]
            )
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        # Small heads so an untrained model starts close to "no update".
        nn.init.trunc_normal_(self.flow_head.weight, std=0.001)
        if linear_layer_for_vis_conf:
            nn.init.trunc_normal_(self.vis_conf_head.weight, std=0.001)

    def forward(self, tokens: torch.Tensor, point_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Predict updates for every point and frame.

        Args:
          tokens: [B, N, T, input_dim].
          point_mask: optional bool [B * T, N], True for points that take part in the
            space attention of that frame (CoTracker2 hides points not yet queried).

        Returns:
          [B, N, T, output_dim].
        """
        x = self.input_transform(tokens)
        b, n_pts, t, c = x.shape
        x = torch.cat([x, self.virual_tracks.expand(b, -1, t, -1)], dim=1)
        n = x.shape[1]
        keep_v2p = keep_p2v = None
        if point_mask is not None:
            keep_v2p, keep_p2v = _space_masks(point_mask, self.num_virtual_tracks)
        every = len(self.time_blocks) // self.space_depth if self.space_depth else 0
        j = 0
        for i, block in enumerate(self.time_blocks):
            x = block(x.reshape(b * n, t, c)).reshape(b, n, t, c)
            if every and i % every == 0:
                s = x.permute(0, 2, 1, 3).reshape(b * t, n, c)
                points, virtual = s[:, :n_pts], s[:, n_pts:]
                virtual = self.space_virtual2point_blocks[j](virtual, points, keep=keep_v2p)
                virtual = self.space_virtual_blocks[j](virtual)
                points = self.space_point2virtual_blocks[j](points, virtual, keep=keep_p2v)
                x = torch.cat([points, virtual], dim=1).reshape(b, t, n, c).permute(0, 2, 1, 3)
                j += 1
        x = x[:, :n_pts]
        out = self.flow_head(x)
        if self.linear_layer_for_vis_conf:
            out = torch.cat([out, self.vis_conf_head(x)], dim=-1)
        return out


def _space_masks(point_mask: torch.Tensor, num_virtual: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention masks for the two cross-attentions from a per-point mask [B*T, N].

    The official code decides which side of a cross-attention a mask belongs to by
    comparing its length with the number of queries: it is applied to the queries when
    the lengths are equal and to the keys otherwise. For virtual <- points that means the
    keys (points), except when exactly ``num_virtual`` points are tracked, where it lands
    on the virtual-track queries instead. We keep that rule so results match the
    official models for every point count.

    Returns:
      (keep for virtual <- points [BT, 1, V, N], keep for points <- virtual [BT, 1, N, V]).
    """
    n = point_mask.shape[1]
    if n == num_virtual:
        keep_v2p = point_mask[:, None, :, None].expand(-1, 1, num_virtual, n)
    else:
        keep_v2p = point_mask[:, None, None, :].expand(-1, 1, num_virtual, n)
    keep_p2v = point_mask[:, None, :, None].expand(-1, 1, n, num_virtual)
    return keep_v2p, keep_p2v


# ---------------------------------------------------------------------------------------------
# Sampling


def sample_bilinear(fmap: torch.Tensor, xy: torch.Tensor, padding: str = "border") -> torch.Tensor:
    """Bilinear sampling at pixel coordinates (align-corners: integer = pixel centre).

    Args:
      fmap: [B, C, H, W].
      xy: [B, P, K, 2] ``(x, y)`` pixels of ``fmap``.
      padding: ``"border"`` or ``"zeros"`` outside the map.

    Returns:
      [B, C, P, K].
    """
    h, w = fmap.shape[-2:]
    scale = torch.tensor([2 / max(w - 1, 1), 2 / max(h - 1, 1)], device=xy.device, dtype=xy.dtype)
    return F.grid_sample(fmap, xy * scale - 1, mode="bilinear", padding_mode=padding, align_corners=True)


def neighbourhood(radius: int, device) -> torch.Tensor:
    """Offsets of a ``(2r+1) x (2r+1)`` patch, [K, 2] ``(dx, dy)``.

    The official models enumerate the patch with the **x offset as the slow index** and
    the y offset as the fast one; the trained correlation layers depend on that order.
    """
    d = torch.linspace(-radius, radius, 2 * radius + 1, device=device)
    dx, dy = torch.meshgrid(d, d, indexing="ij")
    return torch.stack([dx, dy], dim=-1).reshape(-1, 2)


def sample_at_frames(
    fmaps: torch.Tensor, frames: torch.Tensor, xy: torch.Tensor, padding: str = "border"
) -> torch.Tensor:
    """Sample each point's features on its own frame.

    Args:
      fmaps: [T, C, H, W].
      frames: [N] int64 frame of each point (clamped to 0..T-1, like border sampling in time).
      xy: [N, K, 2] ``(x, y)`` pixels of ``fmaps``.
      padding: spatial padding mode.

    Returns:
      [N, K, C].
    """
    n, k, _ = xy.shape
    out = xy.new_zeros(n, k, fmaps.shape[1]).to(fmaps.dtype)
    frames = frames.clamp(0, fmaps.shape[0] - 1)
    for t in torch.unique(frames).tolist():
        sel = (frames == t).nonzero(as_tuple=True)[0]
        s = sample_bilinear(fmaps[t : t + 1], xy[sel][None], padding)  # [1, C, n_t, K]
        out[sel] = s[0].permute(1, 2, 0).to(out.dtype)
    return out


# ---------------------------------------------------------------------------------------------
# Embeddings


def sincos_1d(dim: int, pos: torch.Tensor) -> torch.Tensor:
    """Transformer sin/cos embedding of positions.

    Args:
      dim: embedding width (even).
      pos: [M] positions.

    Returns:
      [M, dim] float32: ``sin(pos * w_k)`` for k < dim/2, then ``cos``; ``w_k = 10000^(-2k/dim)``.
    """
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    out = pos.reshape(-1).to(torch.float64)[:, None] * omega[None]
    return torch.cat([torch.sin(out), torch.cos(out)], dim=1).float()


def time_embedding(dim: int, length: int) -> torch.Tensor:
    """[1, length, dim] sin/cos embedding of frame indices 0..length-1."""
    return sincos_1d(dim, torch.linspace(0, length - 1, length))[None]


def grid_embedding(dim: int, height: int, width: int) -> torch.Tensor:
    """[1, dim, height, width] 2-D sin/cos embedding: first half encodes x, second half y."""
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij"
    )
    emb = torch.cat([sincos_1d(dim // 2, xs), sincos_1d(dim // 2, ys)], dim=1)
    return emb.reshape(1, height, width, dim).permute(0, 3, 1, 2).contiguous()


def flow_embedding(xy: torch.Tensor, channels: int = 64) -> torch.Tensor:
    """Sinusoidal embedding of 2-D displacements used by CoTracker v1/v2.

    Args:
      xy: [..., 2] displacements in feature pixels.
      channels: width per coordinate (even).

    Returns:
      [..., 2 + 2 * channels]: ``(x, y)``, then interleaved sin/cos of x, then of y, with
      frequencies ``k * 1000 / channels`` for k = 0, 2, 4, ... (the official, unusual scale).
    """
    freq = torch.arange(0, channels, 2, device=xy.device, dtype=torch.float32) * (1000.0 / channels)
    parts = [xy]
    for i in range(2):
        a = xy[..., i : i + 1] * freq
        # The official embedding is always stored in float32, whatever the input precision.
        parts.append(torch.stack([torch.sin(a), torch.cos(a)], dim=-1).flatten(-2).to(torch.float32))
    return torch.cat(parts, dim=-1)


def posenc(x: torch.Tensor, min_deg: int, max_deg: int) -> torch.Tensor:
    """NeRF-style positional encoding used by CoTracker3 for frame-to-frame motion.

    Args:
      x: [..., D].
      min_deg, max_deg: scales ``2^min_deg .. 2^(max_deg - 1)``.

    Returns:
      [..., D + 2 * D * (max_deg - min_deg)]: ``x``, then ``sin(x * s)`` for every scale
      (scale-major), then the same shifted by pi/2 (i.e. cosines).
    """
    if min_deg == max_deg:
        return x
    scales = torch.tensor([2**i for i in range(min_deg, max_deg)], dtype=x.dtype, device=x.device)
    xb = (x[..., None, :] * scales[:, None]).reshape(*x.shape[:-1], -1)
    return torch.cat([x, torch.sin(torch.cat([xb, xb + 0.5 * math.pi], dim=-1))], dim=-1)
