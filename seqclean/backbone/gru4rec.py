"""GRU4Rec (Hidasi et al., ICLR 2016) as in RecBole: embedding dropout, a GRU, a dense map back to
the embedding width so that scores = hidden @ item embeddings.

Padding: sequences are **right-padded** with item id 0; the GRU reads left to right, so the state at
a real position never depends on the padding after it.
"""

from __future__ import annotations

import torch
from torch import nn


class GRU4Rec(nn.Module):
    """`forward(seq [B, L] int64, right-padded with 0) -> hidden [B, L, d]`; `item_emb` is (n_iid + 1, d)."""

    def __init__(
        self, n_items: int, hidden: int = 64, gru_hidden: int = 128, layers: int = 1, dropout: float = 0.3
    ) -> None:
        super().__init__()
        self.n_items = n_items
        self.hidden = hidden
        self.layers = layers
        self.gru_hidden = gru_hidden
        self.item_emb = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.emb_drop = nn.Dropout(dropout)
        self.gru = nn.GRU(hidden, gru_hidden, num_layers=layers, batch_first=True, bias=False)
        self.dense = nn.Linear(gru_hidden, hidden)
        nn.init.xavier_normal_(self.item_emb.weight)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()
        for name, p in self.gru.named_parameters():
            if "weight" in name:
                nn.init.xavier_uniform_(p)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        x = self.emb_drop(self.item_emb(seq))
        # explicit h0 so that the ONNX graph accepts any batch size
        h0 = x.new_zeros(self.layers, seq.size(0), self.gru_hidden)
        out, _ = self.gru(x, h0)
        y: torch.Tensor = self.dense(out)
        return y
