"""The small networks the experiments share.

Book: the experiment chapters (Part III).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["MLP", "SmallCNN", "ResidualBlock", "ResNetTrunk"]


class MLP(nn.Sequential):
    """A multilayer perceptron: ``Linear -> ReLU -> ... -> Linear`` on the last dimension.

    Args:
        in_features: the input size.
        hidden: the widths of the hidden layers (may be empty: then one ``Linear``).
        out_features: the output size.
        activation: the module class between layers (default ``nn.ReLU``).

    Shape:
        input ``(*, in_features)``; output ``(*, out_features)``.

    Example:
        >>> net = MLP(64, [32, 16], 10)
        >>> net(torch.zeros(5, 64)).shape
        torch.Size([5, 10])
        >>> [type(m).__name__ for m in net]
        ['Linear', 'ReLU', 'Linear', 'ReLU', 'Linear']
    """

    def __init__(self, in_features: int, hidden: Sequence[int], out_features: int,
                 activation: type[nn.Module] = nn.ReLU):
        sizes = [in_features, *hidden, out_features]
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
            raise ValueError(f"layer sizes must be positive integers, got {sizes}")
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i > 0:
                layers.append(activation())
            layers.append(nn.Linear(a, b))
        super().__init__(*layers)
        self.in_features, self.out_features = in_features, out_features


class SmallCNN(nn.Module):
    """A small convolutional network: ``[Conv3x3 -> ReLU] x len(channels)``, pool, MLP head.

    Used for the flags of the globe TSP (chapter 10): each image is mapped to a vector. The
    features are average-pooled to a coarse ``pool`` grid (not to a single value), so the
    head still sees the layout of the image (stripes across or along, say).

    Args:
        in_channels: channels of the input image.
        channels: the widths of the convolutional layers (padding keeps the size).
        out_features: the output size.
        pool: the ``(rows, columns)`` of the pooled feature grid.
        hidden: the width of the hidden layer of the head.

    Shape:
        input ``(*, in_channels, H, W)``; output ``(*, out_features)``.

    Example:
        >>> net = SmallCNN(3, [8, 16], 3)
        >>> net(torch.zeros(2, 5, 3, 8, 12)).shape
        torch.Size([2, 5, 3])
    """

    def __init__(self, in_channels: int, channels: Sequence[int], out_features: int,
                 pool: tuple[int, int] = (2, 3), hidden: int = 64):
        super().__init__()
        layers: list[nn.Module] = []
        for a, b in zip([in_channels, *channels[:-1]], channels):
            layers += [nn.Conv2d(a, b, 3, padding=1), nn.ReLU()]
        layers.append(nn.AdaptiveAvgPool2d(pool))
        self.features = nn.Sequential(*layers)
        self.head = MLP(channels[-1] * pool[0] * pool[1], [hidden], out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-3]
        h = self.features(x.reshape(-1, *x.shape[-3:])).flatten(1)
        return self.head(h).reshape(*lead, -1)


class ResidualBlock(nn.Module):
    """``x + Conv3x3(ReLU(BatchNorm(Conv3x3(x))))`` followed by ReLU, size and width kept."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm1(self.conv1(x)))
        return torch.relu(x + self.norm2(self.conv2(h)))


class ResNetTrunk(nn.Module):
    """A small ResNet-like trunk that maps an image to a grid of non-negative costs.

    In the spirit of the truncated ResNet18 of Vlastelica et al. (2020) for the Warcraft
    maps: a ``Conv3x3`` stem (optionally strided), ``blocks`` residual blocks, an adaptive max-pool down to the
    ``grid x grid`` cells, a ``1x1`` convolution to one channel and a softplus, so that
    every cost is positive (the shortest-path solver needs costs ``>= 0``).

    Args:
        in_channels: channels of the input image.
        width: channels of the trunk.
        blocks: the number of residual blocks.
        grid: the side of the output grid (the image side must be a multiple of it).
        stride: the stride of the stem (2 halves the image before the blocks, as the
            strided stem of a ResNet does, at a quarter of the cost).

    Shape:
        input ``(B, in_channels, H, W)``; output ``(B, grid, grid)``, all entries ``> 0``.

    Example:
        >>> net = ResNetTrunk(3, width=8, blocks=1, grid=4)
        >>> out = net(torch.zeros(2, 3, 16, 16))
        >>> tuple(out.shape), bool((out > 0).all())
        ((2, 4, 4), True)
    """

    def __init__(self, in_channels: int, width: int, blocks: int, grid: int, stride: int = 1):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, stride=stride, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        self.blocks = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.pool = nn.AdaptiveMaxPool2d(grid)
        self.head = nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(self.blocks(self.stem(x)))
        return nn.functional.softplus(self.head(h)).squeeze(1)


# --- a small graph network (chapter 8, deep graph matching) ---------------------------------

__all__ += ["knn_graph", "MessagePassing"]


def knn_graph(pos: torch.Tensor, k: int) -> torch.Tensor:
    """The indices of each point's ``k`` nearest other points: ``(B, n, 2) -> (B, n, k)``.

    Example:
        >>> knn_graph(torch.tensor([[[0.0, 0.0], [1.0, 0.0], [5.0, 0.0]]]), 1).tolist()
        [[[1], [0], [1]]]
    """
    n = pos.shape[1]
    if not 1 <= k < n:
        raise ValueError(f"k must be in 1..{n - 1}, got {k}")
    dist = torch.cdist(pos, pos)
    dist = dist.masked_fill(torch.eye(n, dtype=torch.bool, device=pos.device), float("inf"))
    return dist.topk(k, dim=-1, largest=False).indices


class MessagePassing(nn.Module):
    """Node features of a point set from its descriptors and the geometry of a k-NN graph.

    Each set's positions are first normalised (centred, divided by their RMS radius); a
    node starts from ``h_i = MLP(x_i)``; each of ``layers`` rounds then sets

    .. math:: h_i \\leftarrow \\mathrm{relu}\\Big(A h_i + \\frac{1}{k} \\sum_{j \\in N_k(i)}
              M\\big([h_j, p_j - p_i]\\big)\\Big)

    with ``N_k(i)`` the ``k`` nearest neighbours of ``i``, ``A`` linear and ``M`` an MLP.
    Plain torch, batched; no graph library needed.

    Args:
        in_features: descriptor size; hidden: feature width; layers: rounds; k: neighbours.

    Shape:
        ``x`` ``(B, n, in_features)``, ``pos`` ``(B, n, 2)`` -> ``(B, n, hidden)``.

    Example:
        >>> net = MessagePassing(16, 32, layers=2, k=3)
        >>> net(torch.randn(4, 7, 16), torch.randn(4, 7, 2)).shape
        torch.Size([4, 7, 32])
    """

    def __init__(self, in_features: int, hidden: int, layers: int = 2, k: int = 4):
        super().__init__()
        self.k = k
        self.embed = MLP(in_features, [hidden], hidden)
        self.update = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.message = nn.ModuleList(MLP(hidden + 2, [hidden], hidden) for _ in range(layers))

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        pos = pos - pos.mean(1, keepdim=True)
        pos = pos / pos.pow(2).sum(-1).mean(1).sqrt().clamp_min(1e-6)[:, None, None]
        nbr = knn_graph(pos, min(self.k, pos.shape[1] - 1))             # (B, n, k)
        B, n, k = nbr.shape
        rel = pos.gather(1, nbr.reshape(B, n * k, 1).expand(-1, -1, 2)).reshape(B, n, k, 2) - pos[:, :, None]
        h = self.embed(x)
        for update, message in zip(self.update, self.message):
            hj = h.gather(1, nbr.reshape(B, n * k, 1).expand(-1, -1, h.shape[-1])).reshape(B, n, k, -1)
            h = torch.relu(update(h) + message(torch.cat([hj, rel], -1)).mean(2))
        return h
