// The real clock: monotonic, and held for a connection's turn while the port
// serves a slice (RealClock.hold; the port's side: port.test.ts).
import { RealClock } from "../../ts/clock";

describe("RealClock", () => {
  afterEach(() => jest.restoreAllMocks());

  it("reads performance.now from the time origin: ms, monotonic, with a fraction", () => {
    jest.spyOn(performance, "now").mockReturnValueOnce(12.25).mockReturnValueOnce(13.5);
    const c = new RealClock();
    expect(c.now()).toBe(performance.timeOrigin + 12.25);
    expect(c.now()).toBe(performance.timeOrigin + 13.5);
  });

  it("holds the time hold() read until release()", () => {
    const now = jest.spyOn(performance, "now").mockReturnValue(40.5);
    const c = new RealClock();
    expect(c.hold()).toBe(40.5);
    now.mockReturnValue(90);
    expect(c.now()).toBe(performance.timeOrigin + 40.5);
    expect(c.now()).toBe(performance.timeOrigin + 40.5);
    expect(c.hold()).toBe(90); // the next connection's turn
    expect(c.now()).toBe(performance.timeOrigin + 90);
    now.mockReturnValue(100);
    c.release();
    expect(c.now()).toBe(performance.timeOrigin + 100);
  });

  it("runs timers as Node's do", async () => {
    const c = new RealClock();
    const fired = await new Promise<boolean>((resolve) => c.setTimeout(() => resolve(true), 1));
    expect(fired).toBe(true);
    const h = c.setTimeout(() => {
      throw new Error("cleared, yet it ran");
    }, 1);
    c.clearTimeout(h);
    await new Promise((r) => setTimeout(r, 5));
  });
});
