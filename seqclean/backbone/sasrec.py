"""SASRec (Kang & McAuley, ICDM 2018): causal self-attention over the item sequence.

Layout follows RecBole's implementation (post-LayerNorm blocks, GELU feed-forward of width 4d,
embedding LayerNorm + dropout, normal(0, 0.02) init, scores = hidden @ item embeddings).

Padding: sequences are **right-padded** with item id 0. Attention is causal, so the state at a real
position j depends only on positions 0..j and is identical whatever padding follows; no key mask is
needed and batched states equal unbatched ones. Position embeddings count from the first item.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class _Block(nn.Module):
    """One transformer block: causal multi-head attention and a feed-forward, each residual + LayerNorm."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        if d % heads:
            raise ValueError(f"hidden {d} is not divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.attn_drop = nn.Dropout(dropout)
        self.drop1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d, eps=1e-12)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.drop2 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d, eps=1e-12)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        h = self.heads
        q, k, v = self.qkv(x).view(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(d // h)
        att = att.masked_fill(mask, -1e9).softmax(dim=-1)
        y = (self.attn_drop(att) @ v).transpose(1, 2).reshape(b, n, d)
        x = self.norm1(x + self.drop1(self.out(y)))
        return self.norm2(x + self.drop2(self.ff(x)))


class SASRec(nn.Module):
    """`forward(seq [B, L] int64, right-padded with 0) -> hidden [B, L, d]`; `item_emb` is (n_iid + 1, d)."""

    def __init__(
        self, n_items: int, hidden: int = 64, layers: int = 2, heads: int = 2, max_len: int = 50, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.n_items = n_items
        self.hidden = hidden
        self.max_len = max_len
        self.item_emb = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, hidden)
        self.emb_norm = nn.LayerNorm(hidden, eps=1e-12)
        self.emb_drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(hidden, heads, dropout) for _ in range(layers))
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.Embedding) and m.padding_idx is not None:
            with torch.no_grad():
                m.weight[m.padding_idx].zero_()

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        n = seq.size(1)
        pos = torch.arange(n, device=seq.device)
        x = self.emb_drop(self.emb_norm(self.item_emb(seq) + self.pos_emb(pos).unsqueeze(0)))
        mask = torch.triu(torch.ones(n, n, dtype=torch.bool, device=seq.device), diagonal=1)
        for block in self.blocks:
            x = block(x, mask)
        return x
