import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { TruecastError } from "../../../src/errors.js";
import { budgetLimits } from "../../../src/formats/pickle/budget.js";
import { OP } from "../../../src/formats/pickle/opcodes.js";
import { unpickle, type UnpickleHooks } from "../../../src/formats/pickle/unpickler.js";
import type { PickleValue } from "../../../src/formats/pickle/values.js";
import { torchHooks } from "../../../src/formats/torch/rebuild.js";
import { fixture } from "../../helpers.js";
import { bytes, call, dict, global, int, pickle, str, text, tuple, u32 } from "./builder.js";

/** Torch's allowlist with no storages: enough for plain values. */
const hooks = (): UnpickleHooks => torchHooks({ fileName: "values.pkl", locate: () => null });

const load = (b: Uint8Array, h: UnpickleHooks = hooks()): PickleValue => unpickle({ bytes: b, fileName: "values.pkl", hooks: h });

function refused(b: Uint8Array, code: string, message: RegExp, h?: UnpickleHooks): void {
  assert.throws(() => load(b, h), (e: unknown) => {
    assert.ok(e instanceof TruecastError, String(e));
    assert.equal(e.code, code);
    assert.match(e.message, message);
    return true;
  });
}

describe("restricted unpickler: values", () => {
  it("reads CPython's pickles of the same values at protocols 0 to 5 alike", async () => {
    for (let proto = 0; proto <= 5; proto++) {
      const v = load(await readFile(fixture("torch", "pickles", `values_p${proto}.pkl`)));
      assert.ok(v instanceof Map, `protocol ${proto}`);
      const get = (k: string): PickleValue | undefined => v.get(k);
      assert.equal(get("int"), 1);
      assert.equal(get("neg"), -5);
      assert.equal(get("i2"), 1000);
      assert.equal(get("i4"), -100000);
      assert.equal(get("i8"), 2 ** 40);
      assert.equal(get("big"), 2n ** 70n);
      assert.equal(get("nbig"), -(2n ** 65n));
      assert.equal(get("float"), 1.5);
      assert.equal(get("negfloat"), -2.25e-300);
      assert.equal(get("str"), "h\u00e9llo \u2713 \u{1f600}");
      assert.equal(get("long_str"), "x".repeat(300));
      assert.deepEqual(get("bytes"), Uint8Array.from([0, 255, 97, 98]));
      assert.deepEqual(get("empty_bytes"), new Uint8Array(0));
      assert.deepEqual(get("list"), [1, [2, "x"]]);
      assert.deepEqual(get("tuple"), [1, 2, 3]);
      assert.ok(Object.isFrozen(get("tuple")), "tuples are frozen");
      assert.deepEqual(get("t1"), [1]);
      assert.deepEqual(get("t0"), []);
      assert.equal(get("none"), null);
      assert.equal(get("t"), true);
      assert.equal(get("f"), false);
      assert.deepEqual(get("od"), new Map([["a", 1], ["b", 2]]));
      assert.deepEqual(get("set"), new Set([1, 2]));
      assert.deepEqual(get("fs"), new Set([3]));
      const shared = get("shared") as PickleValue[];
      assert.equal(shared[0], shared[1], `protocol ${proto}: the memo gives the same object twice`);
      assert.deepEqual(get("intkey"), new Map([[5, "five"]]));
    }
  });

  it("reads hand-built opcodes: LONG1 signs, BINFLOAT big-endian, memo, DUP, POP, POP_MARK", () => {
    const v = load(pickle(
      OP.MARK,
      OP.LONG1, 1, 0xff, // -1
      OP.LONG1, 2, 0x00, 0x80, // -32768
      OP.LONG1, 0, // 0
      OP.BINFLOAT, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18, // pi
      str("m"), OP.BINPUT, 3, OP.POP, OP.BINGET, 3,
      OP.NONE, OP.DUP, OP.POP, OP.POP,
      OP.MARK, int(9), OP.POP_MARK,
      OP.TUPLE,
    ));
    assert.deepEqual(v, [-1, -32768, 0, Math.PI, "m"]);
  });

  it("takes a batch of 200,000 items in one APPENDS without overflowing the call stack (stack limit raised to allow it)", () => {
    const n = 200_000;
    const b = pickle(OP.EMPTY_LIST, OP.MARK, new Uint8Array(n).fill(OP.NONE), OP.APPENDS);
    const v = unpickle({ bytes: b, fileName: "values.pkl", hooks: hooks(), limits: { ...budgetLimits(b.length), stackValues: 250_000 } });
    assert.ok(Array.isArray(v));
    assert.equal(v.length, n);
  });

  it("protocol 0: STRING escapes, UNICODE escapes, INT booleans, FLOAT, GET/PUT", () => {
    const v = load(bytes(
      OP.MARK,
      OP.STRING, text("'a\\x41\\n\\'q'\n"),
      OP.UNICODE, text("caf\\u00e9\n"),
      OP.INT, text("01\n"), OP.INT, text("00\n"), OP.INT, text("-12\n"),
      OP.FLOAT, text("2.5\n"),
      OP.PUT, text("7\n"), OP.GET, text("7\n"),
      OP.TUPLE, OP.STOP,
    ));
    assert.deepEqual(v, ["aA\n'q", "café", true, false, -12, 2.5, 2.5]);
  });

  it("builds OrderedDict, torch.Size and protocol-2 bytes from allowed globals", () => {
    const v = load(pickle(
      tuple(
        call(global("collections", "OrderedDict"), [OP.EMPTY_LIST, tuple(str("k"), int(1)), OP.APPEND]),
        call(global("torch", "Size"), tuple(int(2), int(3))),
        call(global("_codecs", "encode"), str("\u00ff\u0001"), str("latin1")),
      ),
    ));
    assert.deepEqual(v, [new Map([["k", 1]]), [2, 3], Uint8Array.from([255, 1])]);
  });
});

describe("restricted unpickler: refusals", () => {
  it("refuses a global outside the allowlist by name, before anything uses it (GLOBAL)", () => {
    refused(pickle(call(global("os", "system"), str("touch /tmp/x"))), "PICKLE_FORBIDDEN", /^values\.pkl wants to call os\.system; refusing to load it$/);
  });

  it("refuses a global outside the allowlist named through STACK_GLOBAL, dotted paths included", () => {
    refused(pickle(str("builtins"), str("eval"), OP.STACK_GLOBAL), "PICKLE_FORBIDDEN", /wants to call builtins\.eval;/);
    refused(pickle(str("torch._utils"), str("_rebuild_tensor_v2.__globals__"), OP.STACK_GLOBAL), "PICKLE_FORBIDDEN", /wants to call torch\._utils\._rebuild_tensor_v2\.__globals__;/);
  });

  it("advises saving a state dict when a torch or numpy global is refused", () => {
    refused(pickle(global("torch.nn.modules.linear", "Linear")), "PICKLE_FORBIDDEN",
      /^values\.pkl wants to call torch\.nn\.modules\.linear\.Linear; refusing to load it \(truecast reads state dicts of plain tensors only: save model\.state_dict\(\) with torch\.save instead\)$/);
    refused(pickle(global("numpy.core.multiarray", "scalar")), "PICKLE_FORBIDDEN", /numpy\.core\.multiarray\.scalar; refusing to load it \(truecast reads state dicts/);
  });

  it("names Python 2 module spellings by their Python 3 module", () => {
    refused(pickle(global("__builtin__", "getattr")), "PICKLE_FORBIDDEN", /wants to call builtins\.getattr;/);
    refused(pickle(global("commands", "Popen")), "PICKLE_FORBIDDEN", /wants to call subprocess\.Popen;/);
  });

  it("refuses INST and OBJ of a global outside the allowlist", () => {
    refused(bytes(OP.MARK, str("id"), OP.INST, text("subprocess\ncheck_output\n"), OP.STOP), "PICKLE_FORBIDDEN", /wants to call subprocess\.check_output;/);
    refused(pickle(OP.MARK, global("posix", "system"), str("id"), OP.OBJ), "PICKLE_FORBIDDEN", /wants to call posix\.system;/);
  });

  it("refuses the copyreg extension registry", () => {
    refused(pickle(OP.EXT1, 1), "PICKLE_FORBIDDEN", /copyreg extension registry \(code 1\)/);
  });

  it("refuses a call of something that is not a global", () => {
    refused(pickle(str("os.system"), tuple(str("id")), OP.REDUCE), "PICKLE_FORBIDDEN", /wants to call a value that is not an allowed global/);
  });

  it("refuses a call of an allowed global that a state dict never calls", () => {
    refused(pickle(call(global("torch", "FloatStorage"))), "TORCH_INVALID", /torch\.FloatStorage is called, but it is not something a state dict calls/);
  });

  it("refuses BUILD on anything but a dict", () => {
    refused(pickle(OP.EMPTY_LIST, dict(), OP.BUILD), "TORCH_INVALID", /BUILD sets the state of something other than a dict/);
  });

  it("refuses a persistent id outside a torch checkpoint", () => {
    refused(pickle(tuple(str("storage")), OP.BINPERSID), "PICKLE_INVALID", /persistent id/, { isAllowed: () => false, call: () => null });
  });

  it("refuses truncated pickles, unknown opcodes, and stack misuse", () => {
    refused(bytes(OP.PROTO, 2, OP.BINUNICODE, ...u32(100), 0x61), "PICKLE_INVALID", /ends inside a BINUNICODE at byte 7 \(needs 100 bytes, 1 left\)/);
    refused(bytes(OP.PROTO, 2, OP.NONE), "PICKLE_INVALID", /ends inside an opcode/);
    refused(pickle(0xff), "PICKLE_INVALID", /unknown opcode 0xff/);
    refused(pickle(OP.TUPLE), "PICKLE_INVALID", /needs a MARK that is not there/);
    refused(pickle(OP.BINGET, 4), "PICKLE_INVALID", /memo entry 4 is read before it is written/);
    refused(pickle(OP.NONE, OP.NONE), "PICKLE_INVALID", /STOP with a stack that does not hold exactly one value/);
    refused(pickle(OP.POP), "PICKLE_INVALID", /pops an empty stack/);
    refused(pickle(OP.MARK, OP.POP), "PICKLE_INVALID", /pops an empty stack/);
    refused(bytes(OP.PROTO, 6, OP.NONE, OP.STOP), "PICKLE_INVALID", /protocol 6 is newer than 5/);
    refused(pickle(tuple(), OP.NONE, OP.APPEND), "PICKLE_INVALID", /APPEND on something that is not a list/);
    refused(pickle(OP.EMPTY_LIST, OP.NONE, OP.NONE, OP.SETITEM), "PICKLE_INVALID", /SETITEM on something that is not a dict/);
    refused(pickle(OP.NEXT_BUFFER), "PICKLE_INVALID", /out-of-band buffers/);
    refused(bytes(OP.PROTO, 2, OP.LONG4, ...u32(1000)), "PICKLE_INVALID", /LONG4 of 1000 bytes/);
  });
});
