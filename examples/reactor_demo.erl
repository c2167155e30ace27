%% @doc The demo behind `make run': four contexts, each with one of the
%% example protocols, served on 127.0.0.1. The chat's nicks are Erlang's:
%% reactor_chat (examples/reactor_chat.erl) must be on the code path.
-module(reactor_demo).

-export([main/0, start/0, start/1]).

%% @doc Start the demo and serve until the node is stopped.
main() ->
    {ok, _} = start(),
    receive after infinity -> ok end.

%% @doc Start the demo on the ports from REACTOR_DEMO_PORT (7000 by default).
start() ->
    Base = case os:getenv("REACTOR_DEMO_PORT") of
               false -> 7000;
               P -> list_to_integer(P)
           end,
    start(Base).

%% @doc Start the demo: echo on `Base', line on `Base'+1, chat on `Base'+2,
%% HTTP on `Base'+80. Returns each context's name, pid and port.
-spec start(inet:port_number()) -> {ok, [{atom(), pid(), inet:port_number()}]}.
start(Base) ->
    {ok, _} = application:ensure_all_started(reactor),
    Examples = examples_dir(),
    Servers = [{echo, "echo.ts", Base}, {http, "http.ts", Base + 80}, {line, "line.ts", Base + 1}],
    Chat = filename:join(Examples, "chat.ts"),
    {ok, #{context := ChatCtx}} = reactor_chat:serve(chat, #{protocol => Chat, port => Base + 2}),
    Started =
        [begin
             {ok, Ctx} = reactor_context:start(Name, #{protocol => filename:join(Examples, File)}),
             {ok, _} = reactor:start_listener(Name, #{ip => {127, 0, 0, 1}, port => Port,
                                                      context => Ctx}),
             {Name, Ctx, Port}
         end || {Name, File, Port} <- Servers] ++ [{chat, ChatCtx, Base + 2}],
    io:format("~nerlang-reactor demo: TypeScript protocols served by the BEAM~n~n"
              "  echo  127.0.0.1:~p   printf 'hello\\n' | nc -q1 127.0.0.1 ~p~n"
              "  http  127.0.0.1:~p   curl -v http://127.0.0.1:~p/ http://127.0.0.1:~p/~n"
              "                           curl -d 'some body' http://127.0.0.1:~p/echo~n"
              "  line  127.0.0.1:~p   printf 'PING\\nUPPER hi\\nQUIT\\n' | nc 127.0.0.1 ~p~n"
              "  chat  127.0.0.1:~p   nc 127.0.0.1 ~p   then NICK ann, JOIN lobby, hello (and another nc beside it)~n~n"
              "Ctrl-C twice to stop.~n",
              [Base, Base, Base + 80, Base + 80, Base + 80, Base + 80, Base + 1, Base + 1, Base + 2, Base + 2]),
    {ok, Started}.

examples_dir() ->
    Candidates = [filename:absname("examples"),
                  filename:join(filename:dirname(real_priv()), "examples")],
    case [D || D <- Candidates, filelib:is_regular(filename:join(D, "echo.ts"))] of
        [D | _] -> D;
        [] -> error({examples_not_found, Candidates})
    end.

real_priv() ->
    Priv = code:priv_dir(reactor),
    case file:read_link_all(Priv) of
        {ok, Target} -> filename:absname(Target, filename:dirname(Priv));
        _ -> Priv
    end.
