/**
 * Damaged pickles are refused where CPython's unpickler or torch.load would refuse them, and read as they read
 * them otherwise (expected values checked against Python 3 `pickle.loads` and torch 1.13 / 2.x `_utils.py`).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { TruecastError } from "../../../src/errors.js";
import { OP } from "../../../src/formats/pickle/opcodes.js";
import { unpickle } from "../../../src/formats/pickle/unpickler.js";
import type { PickleValue } from "../../../src/formats/pickle/values.js";
import { torchHooks } from "../../../src/formats/torch/rebuild.js";
import { repoRoot, tempDir } from "../../helpers.js";
import { buildTorchZip } from "../torch/zip-builder.js";
import { bytes, call, dict, global, int, pickle, str, text, tuple, u32, type Part } from "./builder.js";

const FLOATS = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
const hooks = () => torchHooks({ fileName: "x.pkl", locate: (key) => (key === "0" ? { byteOffset: 0, byteLength: 16 } : null) });
const load = (b: Uint8Array): PickleValue => unpickle({ bytes: b, fileName: "x.pkl", hooks: hooks() });

function refused(b: Uint8Array, code: string, message: RegExp): void {
  assert.throws(() => load(b), (e: unknown) => {
    assert.ok(e instanceof TruecastError, String(e));
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}

const binunicode = (raw: number[]): Part => [OP.BINUNICODE, ...u32(raw.length), Uint8Array.from(raw)];
const storage = (): Part => [tuple(str("storage"), global("torch", "FloatStorage"), str("0"), str("cpu"), int(4)), OP.BINPERSID];
const odict = (): Part => call(global("collections", "OrderedDict"));
const v2 = (...extra: Part[]): Part => call(global("torch._utils", "_rebuild_tensor_v2"), storage(), int(0), tuple(int(4)), tuple(int(1)), ...extra);

describe("strings are decoded as CPython decodes them", () => {
  it("refuses invalid UTF-8 in BINUNICODE (w\\xff), keeps a BOM, and accepts a lone surrogate as surrogatepass does", () => {
    refused(pickle(binunicode([0x77, 0xff])), "PICKLE_INVALID", /a string is not valid UTF-8 \(Python refuses to load it\)/);
    refused(pickle(binunicode([0xf0, 0x80, 0x80, 0x80])), "PICKLE_INVALID", /not valid UTF-8/);
    refused(pickle(binunicode([0xc0, 0xaf])), "PICKLE_INVALID", /not valid UTF-8/);
    refused(pickle([OP.SHORT_BINUNICODE, 1, 0x80]), "PICKLE_INVALID", /not valid UTF-8/);
    assert.equal(load(pickle(binunicode([0xef, 0xbb, 0xbf, 0x77]))), "\ufeffw");
    assert.equal(load(pickle(binunicode([0xed, 0xa0, 0x80]))), "\ud800");
    assert.equal(load(pickle(binunicode([0x61, 0xed, 0xb0, 0x80, 0xe2, 0x82, 0xac]))), "a\udc00€");
  });

  it("refuses Python 2 strings that are not UTF-8 (torch.load decodes them strictly)", () => {
    refused(bytes(OP.STRING, text("'\\xff'\n"), OP.STOP), "PICKLE_INVALID", /a Python 2 string is not valid UTF-8/);
    refused(pickle([OP.SHORT_BINSTRING, 1, 0xff]), "PICKLE_INVALID", /a Python 2 string is not valid UTF-8/);
  });

  it("decodes raw-unicode-escape as Python: escapes after odd backslash runs only, whole, and within U+10FFFF", () => {
    assert.equal(load(bytes(OP.UNICODE, text("ab\\\\u0041\n"), OP.STOP)), "ab\\\\u0041");
    assert.equal(load(bytes(OP.UNICODE, text("\\\\\\u0041\n"), OP.STOP)), "\\\\A");
    refused(bytes(OP.UNICODE, text("ab\\u00\n"), OP.STOP), "PICKLE_INVALID", /raw-unicode-escape/);
    refused(bytes(OP.UNICODE, text("\\U00110000\n"), OP.STOP), "PICKLE_INVALID", /raw-unicode-escape/);
  });

  it("refuses FLOAT and INT arguments Python would refuse or read differently", () => {
    refused(bytes(OP.FLOAT, text("\n"), OP.STOP), "PICKLE_INVALID", /"" is not a float/);
    refused(bytes(OP.FLOAT, text("1e400\n"), OP.STOP), "PICKLE_INVALID", /"1e400" is not a float/);
    refused(bytes(OP.FLOAT, text("0x10\n"), OP.STOP), "PICKLE_INVALID", /not a float/);
    assert.equal(load(bytes(OP.FLOAT, text("-inf\n"), OP.STOP)), -Infinity);
    refused(bytes(OP.INT, text("010\n"), OP.STOP), "PICKLE_INVALID", /INT argument "010" is not a decimal integer/);
    refused(bytes(OP.NONE, OP.PUT, text("-1\n"), OP.STOP), "PICKLE_INVALID", /PUT argument "-1"/);
  });
});

describe("opcodes are as strict as CPython's", () => {
  it("reads nothing below the innermost MARK", () => {
    refused(pickle(OP.EMPTY_LIST, OP.MARK, int(1), OP.APPEND), "PICKLE_INVALID", /reads an empty stack/);
    refused(pickle(OP.NONE, OP.MARK, OP.DUP), "PICKLE_INVALID", /reads an empty stack/);
    refused(pickle(OP.NONE, OP.MARK, OP.BINPUT, 0), "PICKLE_INVALID", /reads an empty stack/);
  });
  it("refuses a FRAME longer than the pickle, SETITEMS with a key left over, and an unknown protocol", () => {
    refused(bytes(OP.PROTO, 4, OP.FRAME, 0xe8, 0x03, 0, 0, 0, 0, 0, 0, OP.NONE, OP.STOP), "PICKLE_INVALID", /an 8-byte length 1000 at byte 3 runs past the end of the pickle/);
    refused(pickle(OP.EMPTY_DICT, OP.MARK, str("a"), int(1), str("b"), OP.SETITEMS), "PICKLE_INVALID", /a dict has a key without a value/);
    refused(bytes(OP.PROTO, 6, OP.NONE, OP.STOP), "PICKLE_INVALID", /pickle protocol 6 is newer than 5/);
  });
  it("refuses unhashable dict keys and set elements, BUILD state on a plain dict, READONLY_BUFFER on text", () => {
    refused(pickle(OP.EMPTY_DICT, OP.EMPTY_LIST, OP.NONE, OP.SETITEM), "PICKLE_INVALID", /a dict key is a list, dict or set/);
    refused(pickle(OP.EMPTY_SET, OP.MARK, OP.EMPTY_DICT, OP.ADDITEMS), "PICKLE_INVALID", /a set element is a list, dict or set/);
    refused(pickle(OP.EMPTY_DICT, dict([str("a"), int(1)]), OP.BUILD), "TORCH_INVALID", /BUILD sets attributes of a plain dict/);
    assert.ok(load(pickle(odict(), dict([str("_metadata"), dict()]), OP.BUILD)) instanceof Map);
    refused(pickle(str("a"), OP.READONLY_BUFFER), "PICKLE_INVALID", /READONLY_BUFFER on something that is not bytes/);
    refused(pickle(global("collections", "OrderedDict"), OP.EMPTY_LIST, OP.REDUCE), "PICKLE_INVALID", /arguments of collections\.OrderedDict are not a tuple/);
  });
});

describe("allowed globals are called with the arguments Python and torch accept", () => {
  it("refuses OrderedDict with 6 arguments (it used to drop a tensor silently), and other arities", () => {
    const six = call(global("collections", "OrderedDict"), [OP.EMPTY_LIST, tuple(str("w"), v2(OP.NEWFALSE, odict())), OP.APPEND], int(1), int(2), int(3), int(4), int(5));
    refused(pickle(six), "TORCH_INVALID", /collections\.OrderedDict is called with 6 arguments \(Python takes 0 to 1\)/);
    refused(pickle(call(global("collections", "OrderedDict"), int(5))), "TORCH_INVALID", /OrderedDict is given something that is neither a dict nor a list of pairs/);
    refused(pickle(call(global("torch", "Size"), tuple(int(1)), tuple(int(2)))), "TORCH_INVALID", /torch\.Size is called with 2 arguments/);
    refused(pickle(call(global("torch", "Size"), tuple(str("a")))), "TORCH_INVALID", /torch\.Size is given a, not an integer/);
    refused(pickle(call(global("builtins", "set"), int(5))), "TORCH_INVALID", /builtins\.set is given a number where Python needs an iterable/);
    refused(pickle(call(global("_codecs", "encode"), str("a"), str("latin1"), str("strict"), int(1))), "TORCH_INVALID", /_codecs\.encode is called with 4 arguments/);
    assert.deepEqual(load(pickle(call(global("builtins", "set"), str("ab")))), new Set(["a", "b"]));
  });

  it("NEWOBJ builds as cls.__new__ does: an empty OrderedDict or set, and never a function", () => {
    const newobj = (mod: string, name: string, ...args: Part[]): Part => [global(mod, name), tuple(...args), OP.NEWOBJ];
    assert.deepEqual(load(pickle(newobj("collections", "OrderedDict", [OP.EMPTY_LIST, tuple(str("k"), int(1)), OP.APPEND]))), new Map());
    assert.deepEqual(load(pickle(newobj("builtins", "set", tuple(int(1))))), new Set());
    assert.deepEqual(load(pickle(newobj("builtins", "frozenset", tuple(int(1))))), new Set([1]));
    refused(pickle(newobj("torch._utils", "_rebuild_tensor_v2", storage(), int(0), tuple(int(4)), tuple(int(1)), OP.NEWFALSE, odict())),
      "TORCH_INVALID", /_rebuild_tensor_v2 is used as a class/);
  });

  it("checks the rebuild functions' arity (v2: 6 or 7, v3: 7 or 8, parameter: 3) and argument types", () => {
    assert.equal((load(pickle(v2(OP.NEWFALSE, odict()))) as { kind: string }).kind, "torch.tensor");
    assert.equal((load(pickle(v2(OP.NEWFALSE, odict(), OP.NONE))) as { kind: string }).kind, "torch.tensor", "torch 2.x metadata=None");
    assert.equal((load(pickle(v2(OP.NEWFALSE, odict(), dict([str("neg"), OP.NEWFALSE])))) as { kind: string }).kind, "torch.tensor");
    refused(pickle(v2(OP.NEWFALSE)), "TORCH_INVALID", /_rebuild_tensor_v2 is called with 5 arguments \(torch's takes 6 or 7\)/);
    refused(pickle(v2(OP.NEWFALSE, odict(), OP.NONE, OP.NONE)), "TORCH_INVALID", /_rebuild_tensor_v2 is called with 8 arguments/);
    refused(pickle(v2(OP.NEWFALSE, odict(), dict([str("conj"), OP.NEWTRUE]))), "TORCH_INVALID", /tensor metadata conj=true \(a conjugate or negative bit\)/);
    refused(pickle(v2(int(0), odict())), "TORCH_INVALID", /requires_grad 0, not True or False/);
    const v3 = (...extra: Part[]): Part => call(global("torch._utils", "_rebuild_tensor_v3"), storage(), int(0), tuple(int(4)), tuple(int(1)), OP.NEWFALSE, odict(), global("torch", "float32"), ...extra);
    assert.equal((load(pickle(v3(OP.NONE))) as { kind: string }).kind, "torch.tensor");
    refused(pickle(v3(OP.NONE, OP.NONE)), "TORCH_INVALID", /_rebuild_tensor_v3 is called with 9 arguments \(torch's takes 7 or 8\)/);
    const param = (...args: Part[]): Part => call(global("torch._utils", "_rebuild_parameter"), v2(OP.NEWFALSE, odict()), ...args);
    assert.equal((load(pickle(param(OP.NEWTRUE, odict()))) as { kind: string }).kind, "torch.tensor");
    refused(pickle(param(OP.NEWTRUE, odict(), OP.NONE)), "TORCH_INVALID", /_rebuild_parameter is called with 4 arguments \(torch's takes 3\)/);
    const byteStorage = [tuple(str("storage"), global("torch", "ByteStorage"), str("0"), str("cpu"), int(16)), OP.BINPERSID];
    refused(pickle(call(global("torch._utils", "_rebuild_tensor_v2"), byteStorage, int(0), tuple(int(4)), tuple(int(1)), OP.NEWTRUE, odict())),
      "TORCH_INVALID", /asks a U8 tensor to require gradients/);
    refused(pickle(call(global("torch._utils", "_rebuild_from_type_v2"), global("torch._utils", "_rebuild_tensor_v2"), global("torch._tensor", "Tensor"),
      tuple(storage(), int(0), tuple(int(4)), tuple(int(1)), OP.NEWFALSE, odict()))), "TORCH_INVALID", /_rebuild_from_type_v2 is called with 3 arguments/);
  });
});

describe("the CLI refuses a damaged pickle with one line", () => {
  it("w\\xff in a tensor name: exit 1, PICKLE_INVALID's message, nothing on stdout", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const path = join(dir, "bad-name.pt");
      const pkl = pickle(dict([binunicode([0x77, 0xff]), v2(OP.NEWFALSE, odict())]));
      await writeFile(path, buildTorchZip({ pickle: pkl, storages: { "0": FLOATS } }));
      const r = spawnSync(process.execPath, ["--max-old-space-size=256", join(repoRoot(), "dist", "src", "cli", "main.js"), "inspect", path], { encoding: "utf8" });
      assert.equal(r.stderr, "truecast: bad-name.pt: a string is not valid UTF-8 (Python refuses to load it) (at byte 11); the pickle is damaged or not one torch writes\n");
      assert.equal(r.status, 1);
      assert.equal(r.stdout, "");
    } finally {
      await cleanup();
    }
  });
});

describe("names Python accepts but safetensors cannot store", () => {
  it("refuses a tensor named with a lone surrogate instead of writing U+FFFD", async () => {
    const { extractStateDict } = await import("../../../src/formats/torch/state-dict.js");
    const value = load(pickle(dict([binunicode([0x77, 0xed, 0xa0, 0x80]), v2(OP.NEWFALSE, odict())])));
    assert.throws(() => extractStateDict({ value, fileName: "x.pt", stripPrefixes: false }), (e: unknown) => {
      assert.ok(e instanceof TruecastError);
      assert.equal(e.code, "TORCH_INVALID");
      assert.match(e.message, /^x\.pt: tensor name "w\\ud800" holds a lone UTF-16 surrogate/);
      return true;
    });
  });
});
