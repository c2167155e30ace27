// The first steps of an SMTP server (RFC 5321) with STARTTLS (RFC 3207): a
// greeting, EHLO, STARTTLS, NOOP (its argument comes back: the echo), QUIT.
// The context or its listener gives the TLS option set: `starttls => #{certfile
// => ..., keyfile => ...}`.
//
//   openssl s_client -starttls smtp -connect 127.0.0.1:2525 -crlf -ign_eof
//   NOOP hello        ->  250 2.0.0 OK hello
import { Action, ClientInfo, Protocol } from "erlang-reactor";

const HOST = "reactor.example";
/** RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with its CRLF. */
const MAX_COMMAND = 512;

export default class Smtp extends Protocol {
  private buf = "";
  /** EHLO's argument: forgotten at STARTTLS (RFC 3207 §4.2) */
  private helo: string | undefined;

  connectionMade(fd: number, info: ClientInfo): Action {
    super.connectionMade(fd, info);
    this.write(`220 ${HOST} ESMTP ready\r\n`);
    return "read_pending";
  }

  dataReceived(data: Buffer): Action {
    this.buf += data.toString("latin1");
    for (let i = this.buf.indexOf("\r\n"); i >= 0; i = this.buf.indexOf("\r\n")) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      const done = this.command(line);
      if (done) return done;
    }
    if (this.buf.length >= MAX_COMMAND) {
      this.write("500 5.5.6 Error: line too long\r\n");
      return "close";
    }
    return "read_pending";
  }

  /** One command; an Action when the lines after it are not to be read. */
  private command(line: string): Action | undefined {
    const sp = line.indexOf(" ");
    const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const arg = sp < 0 ? "" : line.slice(sp + 1);
    const tls = this.clientInfo.tls;
    switch (verb) {
      case "EHLO":
        this.helo = arg;
        this.write(`250-${HOST} greets ${arg}${tls ? ` over ${tls.protocol}` : ""}\r\n`);
        // never offered again once TLS is on (RFC 3207 §4.2)
        this.write(tls ? "250 HELP\r\n" : "250-STARTTLS\r\n250 HELP\r\n");
        return undefined;
      case "HELO":
        this.helo = arg;
        this.write(`250 ${HOST}\r\n`);
        return undefined;
      case "STARTTLS":
        if (tls) this.write("554 5.5.1 Error: TLS already active\r\n");
        else if (arg) this.write("501 5.5.4 Syntax: STARTTLS\r\n");
        else if (this.helo === undefined) this.write("503 5.5.1 Error: send HELO/EHLO first\r\n");
        else return this.starttls();
        return undefined;
      case "NOOP":
        this.write(`250 2.0.0 OK${arg ? ` ${arg}` : ""}\r\n`);
        return undefined;
      case "QUIT":
        this.write("221 2.0.0 Bye\r\n");
        return "close";
      default:
        this.write("502 5.5.2 Error: command not recognized\r\n");
        return undefined;
    }
  }

  /** The 220 in clear, then TLS. What the client sent after the command came
   * in clear before the handshake: it is dropped, never run as if it had
   * come over TLS (RFC 3207 §4; CVE-2011-0411), as Postfix drops it. */
  private starttls(): Action {
    this.write("220 2.0.0 Ready to start TLS\r\n");
    if (this.buf.length > 0) {
      console.warn(`dropped ${this.buf.length} bytes sent after STARTTLS in clear by ${this.clientInfo.addr}:${this.clientInfo.port}`);
      this.buf = "";
    }
    this.helo = undefined;
    this.startTls(); // a failed handshake ends the connection: connectionLost says why
    return "read_pending";
  }
}
