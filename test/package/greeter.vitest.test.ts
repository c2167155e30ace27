// The starter's protocol under vitest, from the installed package (the CI copies
// this file into a fresh project; vitest runs the TypeScript as it is).
import { expect, test } from "vitest";
import { connect } from "erlang-reactor/testing";
import Greeter from "../priv/greeter";

test("greets under vitest, line cut byte by byte", () => {
  const t = connect(Greeter, { clientInfo: { type: "tcp", addr: "203.0.113.5", port: 1 } });
  expect(t.take()).toBe("WELCOME 203.0.113.5\n");
  t.feed("NAME Linus\n", { every: 1 });
  expect(t.take()).toBe("HELLO Linus\n");
});
