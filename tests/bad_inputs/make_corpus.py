#!/usr/bin/env python3
"""Writes the bad-input corpus: inputs a user can give qkv by accident or on purpose.

Each input must end in one error of qkv's own type with the message in its .message file
(written by `QKV_UPDATE_BAD_INPUTS=1 build/tests/train_tests "[bad_inputs]"` and reviewed
by hand). tests/train/bad_inputs_test.cpp runs them all. Add a case here, run this script,
then the update command, and read the new message before committing it.

  config/      config files, read by load_config
  set/         one --set argument each, applied to {"task": {"name": "copy"}}
  safetensors/ files read by load_safetensors
  checkpoint/  checkpoint files resumed by the trainer in a run folder of run.json
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(kind, name, data):
    os.makedirs(os.path.join(HERE, kind), exist_ok=True)
    with open(os.path.join(HERE, kind, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(header, data=b""):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


MINIMAL = '{"task": {"name": "copy"}}'
NESTED = "[" * 10000 + "1" + "]" * 10000

# config/
write("config", "nested_10000_levels.json", '{"task": {"name": "copy"}, "model": {"x": ' + NESTED + "}}")
write("config", "number_overflow.json", '{"task": {"name": "copy"},\n "optimizer": {"lr": 1e999}}\n')
write("config", "nul_byte.json", MINIMAL.encode() + b"\n\0{\"model\": {\"d_model\": 8}}\n")
write("config", "not_utf8.json", b'{"task": {"name": "co\xffpy"}}\n')
write("config", "truncated.json", '{"task": {"name": "copy"}, "model": {"d_mod')
write("config", "trailing_text.json", MINIMAL + " and more\n")
write("config", "top_level_array.json", "[1, 2]\n")
write("config", "empty.json", "")
write("config", "d_model_1e9.json", '{"task": {"name": "copy"}, "model": {"d_model": 1e9}}\n')
write("config", "threads_100000.json", '{"task": {"name": "copy"}, "train": {"threads": 100000}}\n')
write("config", "too_much_memory.json", '{"task": {"name": "copy", "seq_len": 65535}}\n')
write("config", "layers_1e6.json", '{"task": {"name": "copy"}, "model": {"layers": 1000000}}\n')
write("config", "misspelt_key.json", '{"task": {"name": "copy"}, "model": {"dropuot": 0.1}}\n')
os.makedirs(os.path.join(HERE, "config", "a_folder.json"), exist_ok=True)
write("config", "a_folder.json/.gitkeep", "")

# set/
write("set", "nested_10000_levels.txt", "model.d_model=" + NESTED)
write("set", "not_utf8.txt", b"train.out_dir=runs/\xff")
write("set", "no_equals.txt", "model.d_model")
write("set", "no_section.txt", "d_model=8")
write("set", "section_not_object.txt", 'task="copy"')
write("set", "batch_size_1e9.txt", "train.batch_size=1e9")

# safetensors/
tensor = {"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
write("safetensors", "too_short.safetensors", b"\x01\x02\x03")
write("safetensors", "header_past_end.safetensors", struct.pack("<Q", 1000) + b"{}")
write("safetensors", "header_not_json.safetensors", safetensors(b"{nope"))
write("safetensors", "header_nul_byte.safetensors", safetensors(b"{}\0 trailing"))
write("safetensors", "header_nested.safetensors", safetensors(("[" * 40 + "]" * 40).encode()))
write("safetensors", "shape_is_string.safetensors",
      safetensors({"x": {"dtype": "F32", "shape": "2", "data_offsets": [0, 8]}}, b"\0" * 8))
write("safetensors", "offsets_past_end.safetensors",
      safetensors({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 800]}}, b"\0" * 8))
write("safetensors", "duplicate_name.safetensors",
      safetensors(b'{"x": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, '
                  b'"x": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}'))
write("safetensors", "dtype_unsupported.safetensors",
      safetensors({"x": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4))

# checkpoint/: metadata problems, found before any tensor is compared with the model.
config = json.dumps({"train": {"steps": 4}})
schedule = json.dumps({"kind": "constant"})
generator = json.dumps(["1", "2", "3", "4"])


def checkpoint(**meta):
    base = {"format": "qkv.checkpoint.v1", "step": "2", "config": config, "schedule": schedule,
            "generator": generator, "optimizer": "{}"}
    base.update(meta)
    return safetensors({"__metadata__": {k: v for k, v in base.items() if v is not None}, **tensor}, b"\0" * 8)


write("checkpoint", "run.json", '{"task": {"name": "copy"}, "train": {"steps": 4}}\n')
write("checkpoint", "no_metadata.safetensors", safetensors(tensor, b"\0" * 8))
write("checkpoint", "other_format.safetensors", checkpoint(format="pt"))
write("checkpoint", "step_negative.safetensors", checkpoint(step="-1"))
write("checkpoint", "no_config.safetensors", checkpoint(config=None))
write("checkpoint", "config_not_json.safetensors", checkpoint(config="{train"))
write("checkpoint", "config_array.safetensors", checkpoint(config="[]"))
write("checkpoint", "config_null.safetensors", checkpoint(config="null"))
write("checkpoint", "config_nested.safetensors", checkpoint(config=NESTED))
write("checkpoint", "config_section_not_object.safetensors", checkpoint(config='{"train": 4}'))
write("checkpoint", "config_without_steps.safetensors", checkpoint(config='{"train": {}}'))
write("checkpoint", "no_schedule.safetensors", checkpoint(schedule=None))
write("checkpoint", "schedule_array.safetensors", checkpoint(schedule="[]"))
