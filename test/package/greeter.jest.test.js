// The starter's protocol under jest, from the installed package (the CI copies
// this file into a fresh project next to the compiled protocol).
const { connect } = require("erlang-reactor/testing");
const Greeter = require("../priv/greeter").default;

test("greets under jest too, line cut byte by byte", () => {
  const t = connect(Greeter, { clientInfo: { type: "tcp", addr: "198.51.100.1", port: 1 } });
  expect(t.take()).toBe("WELCOME 198.51.100.1\n");
  t.feed("NAME Grace\n", { every: 1 });
  expect(t.take()).toBe("HELLO Grace\n");
});

test("several harnesses in one process stay apart", () => {
  const a = connect(Greeter);
  const b = connect(Greeter);
  a.feed("NAME a\n");
  expect(b.take()).toBe("WELCOME 127.0.0.1\n");
  expect(a.take()).toBe("WELCOME 127.0.0.1\nHELLO a\n");
});
