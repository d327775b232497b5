"""The MemoryFormer language model on the official code's pieces, for training and as the PyTorch reference.

The layers are the official ones from a checkout of C0-Design/MemoryFormer (not part of this
repository): `memory_module/memory.py`'s `MemoryLayer` (its pure-torch path, `force_torch_op=True`:
`compute_code_score_torch` and `my_torch_gather`), `megatron/model/norms.py`'s `RMSNorm` and
`megatron/model/positional_embeddings.py`'s `RotaryEmbedding` / `apply_rotary_pos_emb_torch`. They are
wired as `megatron/model/transformer.py`'s `MySelfAttention` and `ParallelTransformerLayer` do under
the released configs (`configs/memoryformer_tiny.yml`): Q, K, V are memory layers sharing the value
layer's hash of the normed input (`_forward_memory_qkv`, `remove_projection`), rotary on the first
`rotary_pct` of each head, causal softmax scaled by 1/sqrt(head_dim), no output projection
(`del_dense`), residual; MLP = memory layer → LayerNorm → memory layer with 2 extra bits
(`double_mlp_table`, `extra_bit`), residual; final RMSNorm, untied LM head. That wiring needs
Megatron's model-parallel machinery and DeepSpeed, so it is restated here (as the benchmark in
`Benchmarks/memoryformer/bench.py` does; it loads the official modules with `load_official` below).
The shims: importing `memory_module` compiles C++/CUDA extensions that the torch path never calls,
so `torch.utils.cpp_extension.load` is replaced by a stub, and `torch.nn.LayerNorm` stands in for the
fused LayerNorm that `norms.py` imports. Rotary cos/sin are float32 (the official code caches them
in its training dtype, fp16).

State-dict names are the fixture's (`Tests/Fixtures/README.md`), which `swiftlet convert` reads:
`word_embeddings.weight`, `layers.N.{input_layernorm.scale, attention.{query,key,value}_proj.{tables,bias},
post_attention_layernorm.scale, mlp.0.{tables,bias}, mlp.1.{weight,bias}, mlp.2.{tables,bias}}`,
`final_norm.scale`, `lm_head.weight`.
"""
import contextlib
import importlib.util
import io
import math
import os
import sys
import types

import torch
import torch.nn as nn
import torch.nn.functional as F

EXTRA_BITS = 2  # hard-coded in the official get_mlp


def load_official(path):
    """The official memory module, norms and positional embeddings, without compiling extensions."""
    import torch.utils.cpp_extension as cpp

    def fake_load(name, *args, **kwargs):
        mod = types.ModuleType(name)
        sys.modules[name] = mod
        return mod

    cpp.load = fake_load
    if path not in sys.path:
        sys.path.insert(0, path)
    with contextlib.redirect_stdout(io.StringIO()):
        import memory_module.memory as memory
    pkg = types.ModuleType("mf_official_model")
    pkg.__path__ = [os.path.join(path, "megatron", "model")]
    sys.modules["mf_official_model"] = pkg
    fused = types.ModuleType("mf_official_model.fused_layer_norm")
    fused.MixedFusedLayerNorm = torch.nn.LayerNorm
    sys.modules["mf_official_model.fused_layer_norm"] = fused
    mods = {}
    for name in ("norms", "positional_embeddings"):
        spec = importlib.util.spec_from_file_location(f"mf_official_model.{name}",
                                                      os.path.join(path, "megatron", "model", name + ".py"))
        m = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = m
        spec.loader.exec_module(m)
        mods[name] = m
    return memory, mods["norms"], mods["positional_embeddings"]


def converter_config(cfg):
    """The `swiftlet convert --config` JSON for a model built from `cfg` (official key names)."""
    return dict(hidden_size=cfg["hidden_size"], num_attention_heads=cfg["num_attention_heads"],
                num_layers=cfg["num_layers"], ffn_num_table=cfg["hidden_size"] // cfg["code_length"],
                code_length=cfg["code_length"], vocab_size=cfg["vocab_size"], rotary_pct=cfg["rotary_pct"],
                rotary_emb_base=cfg["rotary_emb_base"], norm="rmsnorm", rms_norm_epsilon=cfg["rms_norm_epsilon"],
                mlp_layernorm_epsilon=cfg["mlp_layernorm_epsilon"], remove_projection=True, del_dense=True,
                double_mlp_table=True, mlp_expand_type="extra_bit", extra_bits=EXTRA_BITS, no_weight_tying=True,
                seq_length=cfg["seq_length"])


class Layer(nn.Module):
    def __init__(self, official, cfg):
        super().__init__()
        memory, norms, _ = official
        H, L = cfg["hidden_size"], cfg["code_length"]
        T = H // L
        self.heads, self.hd = cfg["num_attention_heads"], H // cfg["num_attention_heads"]
        self.rot = int(self.hd * cfg["rotary_pct"])

        def memory_layer(hidden, out, bits):
            c = dict(hidden_size=hidden, output_size=out, ffn_num_table=T, code_length=bits, block_size=64,
                     remove_projection=True, act_fn="silu", projection_type="dense")
            with contextlib.redirect_stdout(io.StringIO()):
                return memory.MemoryLayer(c, force_torch_op=True)

        self.input_layernorm = norms.RMSNorm(H, eps=cfg["rms_norm_epsilon"])
        self.attention = nn.Module()
        for name in ("query_proj", "key_proj", "value_proj"):
            layer = memory_layer(H, H, L)
            # MySelfAttention: init_method (small_init, std sqrt(2 / (5 H))) on the Q/K/V tables.
            nn.init.normal_(layer.tables, std=math.sqrt(2 / (5 * H)))
            setattr(self.attention, name, layer)
        self.post_attention_layernorm = norms.RMSNorm(H, eps=cfg["rms_norm_epsilon"])
        W = T * (L + EXTRA_BITS)
        self.mlp = nn.Sequential(memory_layer(H, W, L), nn.LayerNorm(W, eps=cfg["mlp_layernorm_epsilon"]),
                                 memory_layer(W, H, L + EXTRA_BITS))

    def forward(self, x, cos, sin, apply_rotary):
        B, S, H = x.shape
        a = self.attention
        hn = self.input_layernorm(x)
        # _forward_memory_qkv: the value layer's hash, shared by Q, K and V.
        flat = hn.reshape(B * S, H)
        code, score = a.value_proj.hash(flat, table_weight=None, force_torch_op=True)
        shared = (code, score, (B, S))
        q = a.query_proj(None, precompute_code_score_shape=shared).view(B, S, self.heads, self.hd)
        k = a.key_proj(None, precompute_code_score_shape=shared).view(B, S, self.heads, self.hd)
        v = a.value_proj(None, precompute_code_score_shape=shared).view(B, S, self.heads, self.hd)
        # Rotary on the first `rot` dims of each head (the official helpers take [seq, batch, heads, dim]).
        qr, kr = apply_rotary(q[..., :self.rot].transpose(0, 1), k[..., :self.rot].transpose(0, 1), cos, sin)
        q = torch.cat((qr.transpose(0, 1), q[..., self.rot:]), -1)
        k = torch.cat((kr.transpose(0, 1), k[..., self.rot:]), -1)
        ctx = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                             is_causal=True, scale=1.0 / math.sqrt(self.hd))
        attn = ctx.transpose(1, 2).reshape(B, S, H)  # del_dense: no output projection
        a_out = attn + x
        return self.mlp(self.post_attention_layernorm(a_out)) + a_out


class MemoryFormerLM(nn.Module):
    def __init__(self, official_path, cfg):
        super().__init__()
        official = load_official(official_path)
        _, norms, pos = official
        self.cfg = dict(cfg)
        H, V = cfg["hidden_size"], cfg["vocab_size"]
        self.word_embeddings = nn.Embedding(V, H)
        nn.init.normal_(self.word_embeddings.weight, std=math.sqrt(2 / (5 * H)))
        self.layers = nn.ModuleList([Layer(official, cfg) for _ in range(cfg["num_layers"])])
        self.final_norm = norms.RMSNorm(H, eps=cfg["rms_norm_epsilon"])
        self.lm_head = nn.Linear(H, V, bias=False)
        nn.init.normal_(self.lm_head.weight, std=math.sqrt(2 / (5 * H)))
        rot = int(H // cfg["num_attention_heads"] * cfg["rotary_pct"])
        self.rotary = pos.RotaryEmbedding(rot, cfg["seq_length"], base=cfg["rotary_emb_base"], precision=torch.float32)
        self.apply_rotary = pos.apply_rotary_pos_emb_torch

    def forward(self, ids, targets=None):
        x = self.word_embeddings(ids)
        cos, sin = self.rotary(x, seq_len=ids.shape[1])
        for layer in self.layers:
            x = layer(x, cos, sin, self.apply_rotary)
        logits = self.lm_head(self.final_norm(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss
