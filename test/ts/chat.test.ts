// examples/chat.ts in the harness, with Erlang's half (reactor_chat.erl)
// played by stubBeam: a nick table in a Map, rooms by the harness's publish.
// reactor_chat_SUITE runs the real thing on three nodes.
import { MAX_GROUPS_PER_CONNECTION, atom } from "erlang-reactor";
import type { Term } from "erlang-reactor";
import { BeamStub, ProtocolHarness, connect, stubBeam } from "erlang-reactor/testing";
import Chat, { MAX_LINE } from "../../examples/chat";

let stub: BeamStub;
/** the nicks held, as reactor_chat's table (the harness gives every
 * connection the same ref, so the stub goes by the name alone) */
let nicks: Set<string>;

beforeEach(() => {
  nicks = new Set();
  stub = stubBeam({
    "chat.claim_nick": (nick) => {
      const n = (nick as Buffer).toString();
      if (nicks.has(n)) return atom("taken");
      nicks.add(n);
      return atom("ok");
    },
    "chat.release_nick": (nick) => {
      nicks.delete((nick as Buffer).toString());
      return atom("ok");
    },
    "chat.members": () => new Map<Term, number>([[atom("b@host"), 2], [atom("a@host"), 1]]),
  });
});
afterEach(() => stub.restore());

/** A connected client, greeting taken. */
function client(): ProtocolHarness<Chat> {
  const t = connect(Chat);
  expect(t.take()).toMatch(/^\* hello: NICK name/);
  return t;
}

async function send(t: ProtocolHarness, lines: string): Promise<string> {
  t.feed(lines);
  await t.settle();
  return t.take();
}

describe("examples/chat.ts", () => {
  it("takes a nick, joins a room and says lines to it as `room <nick> text`", async () => {
    const t = client();
    expect(await send(t, "NICK ann\r\nJOIN lobby\nhello there\nMSG lobby again\n")).toBe("* nick ann\n* joined lobby\n");
    expect(t.groups).toEqual(new Set(["lobby"]));
    expect(stub.published.map((p) => [p.group, String(p.message)])).toEqual([
      ["lobby", "lobby <ann> hello there\n"],
      ["lobby", "lobby <ann> again\n"],
    ]);
    // what a room's members get: the line as it was published
    t.publish("lobby", stub.published[0].message as Buffer);
    expect(t.take()).toBe("lobby <ann> hello there\n");
    // the nick was claimed for this connection, by its ref and its context
    expect(stub.calls[0]).toEqual({ name: "chat.claim_nick", args: [Buffer.from("ann"), t.protocol.ref, stub.self] });
  });

  it("refuses a nick another connection holds, until it is given back", async () => {
    const a = client();
    const b = client();
    expect(await send(a, "NICK ann\n")).toBe("* nick ann\n");
    expect(await send(b, "NICK ann\n")).toBe("* error nick ann is taken\n");
    // a new nick gives the old one back before it is told
    expect(await send(a, "NICK anna\n")).toBe("* nick anna\n");
    expect(await send(b, "NICK ann\n")).toBe("* nick ann\n");
    // connectionLost gives it back however the connection ended
    a.end();
    await a.settle();
    expect(a.closed).toBe(true);
    expect(nicks.has("anna")).toBe(false);
    expect(await send(b, "NICK anna\n")).toBe("* nick anna\n");
  });

  it("gives back a nick whose claim was answered after the connection ended", async () => {
    let answer!: (v: Term) => void;
    stub.define("chat.claim_nick", () => new Promise<Term>((r) => (answer = r)));
    const t = client();
    t.feed("NICK ann\n");
    await t.settle();
    t.closeFromErlang();
    await t.settle();
    answer(atom("ok"));
    await t.settle();
    expect(stub.calls.map((c) => [c.name, String(c.args[0])])).toEqual([
      ["chat.claim_nick", "ann"],
      ["chat.release_nick", "ann"],
    ]);
  });

  it("holds the lines after a NICK until Erlang answers, then runs them in order", async () => {
    let answer!: (v: Term) => void;
    stub.define("chat.claim_nick", () => new Promise<Term>((r) => (answer = r)));
    const t = client();
    t.feed("NICK ann\nJOIN lobby\nhi\n");
    await t.settle();
    expect(t.take()).toBe("");
    expect(stub.published).toEqual([]);
    answer(atom("ok"));
    await t.settle();
    expect(t.take()).toBe("* nick ann\n* joined lobby\n");
    expect(stub.published.map((p) => String(p.message))).toEqual(["lobby <ann> hi\n"]);
  });

  it("gives the same lines however the network cuts them, a character cut in two included", async () => {
    const t = client();
    t.feed("NICK ann\r\nJOIN lobby\nh\u00e9llo \u{1F600}\n", { every: 1 });
    await t.settle();
    expect(t.take()).toBe("* nick ann\n* joined lobby\n");
    expect(stub.published.map((p) => String(p.message))).toEqual(["lobby <ann> h\u00e9llo \u{1F600}\n"]);
  });

  it("answers WHO with the count per node", async () => {
    const t = client();
    expect(await send(t, "WHO lobby\n")).toBe("* who lobby 3 a@host=1 b@host=2\n");
    expect(stub.calls).toEqual([{ name: "chat.members", args: [Buffer.from("lobby")] }]);
  });

  it("refuses what does not follow the rules, and goes on", async () => {
    const t = client();
    expect(await send(t, "hello\nJOIN lobby\nNICK bad nick\nNICK " + "x".repeat(33) + "\n")).toBe(
      "* error JOIN a room first\n* error NICK first\n" +
        "* error a nick is 1 to 32 of A-Z a-z 0-9 _ -\n* error a nick is 1 to 32 of A-Z a-z 0-9 _ -\n",
    );
    expect(await send(t, "NICK ann\nJOIN a/b\nMSG lobby hi\nMSG lobby\nLEAVE lobby\nWHO\n")).toBe(
      "* nick ann\n* error a room is 1 to 32 of A-Z a-z 0-9 _ -\n* error not in lobby\n* error MSG room text\n" +
        "* error not in lobby\n* error WHO room\n",
    );
    expect(stub.published).toEqual([]);
    expect(t.closed).toBe(false);
  });

  it("refuses a room past the bound on groups, and stays", async () => {
    const t = client();
    const joins = Array.from({ length: MAX_GROUPS_PER_CONNECTION }, (_, i) => `JOIN r${i}\n`).join("");
    await send(t, "NICK ann\n" + joins);
    expect(await send(t, "JOIN one_more\nJOIN r0\n")).toBe(`* error in ${MAX_GROUPS_PER_CONNECTION} rooms already\n* joined r0\n`);
    expect(t.groups.size).toBe(MAX_GROUPS_PER_CONNECTION);
    expect(t.closed).toBe(false);
  });

  it("talks to the room joined last; LEAVE goes back to the one before", async () => {
    const t = client();
    await send(t, "NICK ann\nJOIN one\nJOIN two\nhi\nLEAVE two\nback\n");
    expect(stub.published.map((p) => [p.group, String(p.message)])).toEqual([
      ["two", "two <ann> hi\n"],
      ["one", "one <ann> back\n"],
    ]);
    expect(t.groups).toEqual(new Set(["one"]));
  });

  it("says bye and closes on QUIT; a line too long is refused and closes", async () => {
    const t = client();
    expect(await send(t, "QUIT\nNICK ann\n")).toBe("* bye\n");
    expect(t.closed).toBe(true);
    expect(stub.calls).toEqual([]);
    const long = client();
    // the lines before it are answered first, even with the long one still coming
    expect(await send(long, "WHO lobby\n" + "x".repeat(MAX_LINE + 1))).toBe(
      "* who lobby 3 a@host=1 b@host=2\n* error line too long\n",
    );
    expect(long.closed).toBe(true);
  });

  it("drops a message that is not a room's line", async () => {
    const t = client();
    await send(t, "NICK ann\nJOIN lobby\n");
    t.publish("lobby", atom("not_a_line"));
    t.message(42);
    expect(t.take()).toBe("");
    expect(t.closed).toBe(false);
  });
});
