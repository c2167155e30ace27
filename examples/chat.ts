// A line chat for the whole cluster: rooms are groups (this.join,
// beam.publish), nicks are Erlang's (examples/reactor_chat.erl answers
// beam.call("chat.claim_nick") over an ETS table; a context serves this file
// with `handlers => reactor_chat:handlers()').
//
// Commands, one per line (UTF-8, ending in \n or \r\n); the words are upper case:
//   NICK name        take a nick (1 to 32 of A-Z a-z 0-9 _ -), one holder in the cluster
//   JOIN room        join a room (the same characters); it becomes the current room
//   LEAVE room       leave it
//   MSG room text    say text in a room you joined
//   text             any other line: said in the current room (the one joined last)
//   WHO room         how many are in the room, per node
//   QUIT             say goodbye and close
// A line said in a room reaches every member on every node, its sender too, as
//   room <nick> text
// Replies to the sender alone start with "* " (a room's name cannot):
//   * nick ann · * joined lobby · * left lobby · * who lobby 3 a@host=2 b@host=1
//   * bye · * error <why>
// A line longer than MAX_LINE characters is refused and the connection
// closed (after the lines before it are answered).
import { StringDecoder } from "string_decoder";
import { Action, ClientInfo, ConnRef, MAX_GROUPS_PER_CONNECTION, Protocol, atom, beam } from "erlang-reactor";
import type { Term } from "erlang-reactor";

/** The longest line taken, in characters. */
export const MAX_LINE = 4096;
const NAME = /^[A-Za-z0-9_-]{1,32}$/;

/** One chat connection. */
export default class Chat extends Protocol {
  private partial = "";
  private readonly decoder = new StringDecoder("utf8");
  /** the nick this connection holds in Erlang's table, and under which ref */
  private held: { nick: string; ref: ConnRef } | undefined;
  private readonly rooms = new Set<string>();
  private quitting = false;
  private ended = false;

  connectionMade(fd: number, info: ClientInfo): Action {
    super.connectionMade(fd, info);
    this.say("hello: NICK name, JOIN room, then talk; MSG room text, LEAVE room, WHO room, QUIT");
    return "read_pending";
  }

  /** Lines run in order; one that asks Erlang (NICK, WHO) holds the ones
   * after it until the answer is in (the connection reads nothing meanwhile). */
  dataReceived(data: Buffer): Action | Promise<Action> {
    if (this.quitting) return "read_pending";
    const lines = (this.partial + this.decoder.write(data)).split("\n");
    this.partial = lines.pop() ?? "";
    if (this.partial.length > MAX_LINE) {
      lines.push(this.partial); // already too long: refused in run(), after the lines before it
      this.partial = "";
    }
    return this.run(lines, 0);
  }

  private run(lines: string[], from: number): Action | Promise<Action> {
    for (let i = from; i < lines.length && !this.quitting; i++) {
      if (this.ended) return "close"; // it ended while Erlang answered: the rest is nobody's
      const line = lines[i].replace(/\r$/, "");
      const answer = line.length > MAX_LINE ? this.tooLong() : this.command(line);
      if (answer) return answer.then(() => this.run(lines, i + 1));
    }
    return this.quitting ? "close" : "read_pending";
  }

  /** A room's line, from any member on any node: a Buffer, written as it is.
   * Anything else is not the chat's and is dropped. */
  messageReceived(term: Term): Action {
    if (!Buffer.isBuffer(term) || this.ended || this.closed) return "continue";
    return this.write(term) ? "continue" : "write_pending";
  }

  /** The nick goes back to Erlang's table however the connection ended. */
  connectionLost(): void {
    this.ended = true;
    if (this.held) void release(this.held.nick, this.held.ref);
  }

  private command(line: string): Promise<void> | void {
    const space = line.indexOf(" ");
    const word = space < 0 ? line : line.slice(0, space);
    const arg = space < 0 ? "" : line.slice(space + 1);
    switch (word) {
      case "NICK":
        return this.nick(arg);
      case "JOIN":
        return this.joinRoom(arg);
      case "LEAVE":
        return this.leaveRoom(arg);
      case "MSG": {
        const at = arg.indexOf(" ");
        return at < 0 ? this.error("MSG room text") : this.talk(arg.slice(0, at), arg.slice(at + 1));
      }
      case "WHO":
        return this.who(arg);
      case "QUIT":
        this.say("bye");
        this.quitting = true;
        return;
      case "":
        return;
      default: {
        const current = [...this.rooms].pop();
        return current === undefined ? this.error("JOIN a room first") : this.talk(current, line);
      }
    }
  }

  private nick(nick: string): Promise<void> | void {
    if (!NAME.test(nick)) return this.error(`a nick is 1 to 32 of A-Z a-z 0-9 _ -`);
    if (this.held?.nick === nick) return this.say(`nick ${nick}`);
    const ref = this.ref;
    return beam.call("chat.claim_nick", nick, ref, beam.self()).then(
      (answer) => {
        if (answer !== atom("ok")) {
          return this.error(answer === atom("taken") ? `nick ${nick} is taken` : `nick ${nick}: ${String(answer)}, try again`);
        }
        // ended while Erlang answered: nobody is left to hold it
        if (this.ended) return void release(nick, ref);
        const before = this.held;
        this.held = { nick, ref };
        // the old nick is free once the new one is told
        return (before ? release(before.nick, before.ref) : Promise.resolve()).then(() => this.say(`nick ${nick}`));
      },
      (e: Error) => this.error(`nick ${nick}: ${firstLine(e.message)}`),
    );
  }

  private async joinRoom(room: string): Promise<void> {
    if (!this.held) return this.error("NICK first");
    if (!NAME.test(room)) return this.error("a room is 1 to 32 of A-Z a-z 0-9 _ -");
    if (!this.rooms.has(room) && this.rooms.size >= MAX_GROUPS_PER_CONNECTION) {
      return this.error(`in ${MAX_GROUPS_PER_CONNECTION} rooms already`); // join() would throw
    }
    this.rooms.delete(room); // to the end: the current room
    this.rooms.add(room);
    await this.join(room); // this node's context is in the room's pg group: "joined" is true
    this.say(`joined ${room}`);
  }

  private leaveRoom(room: string): void {
    if (!this.rooms.delete(room)) return this.error(`not in ${room}`);
    this.leave(room);
    this.say(`left ${room}`);
  }

  private talk(room: string, text: string): void {
    if (!this.held) return this.error("NICK first");
    if (!this.rooms.has(room)) return this.error(`not in ${room}`);
    // one Buffer for every member: each context decodes it once for all of its members
    beam.publish(room, Buffer.from(`${room} <${this.held.nick}> ${text}\n`));
  }

  private who(room: string): Promise<void> | void {
    if (!NAME.test(room)) return this.error("WHO room");
    return beam.call("chat.members", room).then(
      (counts) => {
        const nodes = [...(counts as Map<Term, number>)].map(([node, n]) => `${String(node)}=${n}`).sort();
        const total = [...(counts as Map<Term, number>).values()].reduce((a, b) => a + b, 0);
        this.say(`who ${room} ${[total, ...nodes].join(" ")}`);
      },
      (e: Error) => this.error(`WHO ${room}: ${firstLine(e.message)}`),
    );
  }

  private tooLong(): undefined {
    this.error("line too long");
    this.quitting = true;
    return undefined;
  }

  private error(why: string): void {
    this.say(`error ${why}`);
  }

  /** A reply to this connection alone; none once it has ended (an answer
   * from Erlang can come after that). */
  private say(text: string): void {
    if (!this.ended && !this.closed) this.write(`* ${text}\n`);
  }
}

/** Give `nick` back; settles (never rejects) once Erlang has it. */
function release(nick: string, ref: ConnRef): Promise<void> {
  // the context may be stopping (ESTOPPING): Erlang's owner drops its nicks then
  return beam.call("chat.release_nick", nick, ref).then(
    () => undefined,
    () => undefined,
  );
}

function firstLine(s: string): string {
  return s.split("\n", 1)[0];
}
