/**
 * A column of numbers that costs four bytes a row while every value is an integer from 0 to 2^32 - 1 (offsets in a
 * file under 4 GiB, dimensions) and eight once one is not (then every value is kept exactly as a double, NaN too).
 */
export class NumberColumn {
  private values: Uint32Array | Float64Array;

  constructor(capacity: number) {
    this.values = new Uint32Array(capacity);
  }

  get length(): number {
    return this.values.length;
  }

  get(i: number): number {
    return this.values[i] as number;
  }

  set(i: number, value: number): void {
    // `>>> 0` keeps exactly the integers 0 .. 2^32 - 1 (NaN, fractions, negatives and larger values change).
    if (this.values instanceof Uint32Array && value >>> 0 !== value) {
      const wide = new Float64Array(this.values.length);
      wide.set(this.values);
      this.values = wide;
    }
    this.values[i] = value;
  }

  /** The same values with room for `capacity` rows. */
  grow(capacity: number): void {
    const out = this.values instanceof Uint32Array ? new Uint32Array(capacity) : new Float64Array(capacity);
    out.set(this.values);
    this.values = out;
  }
}
