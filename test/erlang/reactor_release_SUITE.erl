%% Shipped, not just built: a throwaway application depends on this checkout
%% through a real git dependency, is released with `rebar3 release' and
%% `rebar3 tar', and each release is moved to a directory with no _build and
%% no source tree beside it, started (foreground, daemon), serves a
%% connection through a protocol in its own priv dir, and stops cleanly. A
%% second protocol imports an npm package of its own (priv/units, its
%% package.json and package-lock.json from test/fixtures/units), which the
%% build's hook installs from the registry (`npm ci --omit=dev'): the moved
%% release answers with it, loaded from the release's own copy.
-module(reactor_release_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [free_port/0, write_file/3, sh/2]).

all() -> [release_moved_foreground, tarball_unpacked_daemon].

suite() -> [{timetrap, {minutes, 8}}].

init_per_suite(Config) ->
    Work = "/tmp/reactor-release-" ++ integer_to_list(erlang:unique_integer([positive])),
    ok = file:make_dir(Work),
    Src = reactor_test_lib:git_snapshot(Work),
    App = filename:join(Work, "demoapp"),
    write_app(App, Src),
    Build = sh(App, "rebar3 release 2>&1 && rebar3 tar 2>&1"),
    ct:log("~ts", [Build]),
    Rel = filename:join(App, "_build/default/rel/demoapp"),
    [Tar] = filelib:wildcard(filename:join(Rel, "demoapp-*.tar.gz")),
    Moved = filename:join(Work, "moved"),
    Unpacked = filename:join(Work, "unpacked"),
    ok = file:make_dir(Unpacked),
    "" = sh(Work, "cp -a " ++ Rel ++ " " ++ Moved ++ " && rm -f " ++ Moved ++ "/*.tar.gz"),
    "" = sh(Unpacked, "tar xzf " ++ Tar),
    %% nothing of the build is left to lean on
    "" = sh(Work, "rm -rf " ++ App ++ " " ++ Src),
    [{work, Work}, {moved, Moved}, {unpacked, Unpacked} | Config].

end_per_suite(Config) ->
    %% the releases' BEAMs started an epmd from their own erts
    os:cmd("pkill -f '" ++ ?config(work, Config) ++ "/.*/epmd'"),
    os:cmd("rm -rf " ++ ?config(work, Config)).

write_app(App, Src) ->
    write_file(App, "rebar.config",
          io_lib:format("{deps, [{reactor, {git, \"file://~ts\", {branch, \"main\"}}}]}.\n"
                        %% a protocol's own packages, beside it in priv/, as the README says
                        "{pre_hooks, [{compile, \"npm ci --omit=dev --no-audit --no-fund --prefix priv/units\"}]}.\n"
                        "{relx, [{release, {demoapp, \"0.1.0\"}, [demoapp]},\n"
                        "        {dev_mode, false}, {include_erts, true},\n"
                        "        {extended_start_script, true},\n"
                        "        {vm_args, \"config/vm.args\"}]}.\n", [Src])),
    write_file(App, "config/vm.args", "-name demoapp@127.0.0.1\n-setcookie reactor_release_test\n"),
    write_file(App, "src/demoapp.app.src",
          "{application, demoapp, [{vsn, \"0.1.0\"}, {registered, [demoapp_sup]},\n"
          " {mod, {demoapp_app, []}},\n"
          " {applications, [kernel, stdlib, reactor]}, {env, []}]}.\n"),
    write_file(App, "src/demoapp_app.erl",
          "-module(demoapp_app).\n-behaviour(application).\n-behaviour(supervisor).\n"
          "-export([start/2, stop/1, init/1]).\n"
          "start(_, _) -> supervisor:start_link({local, demoapp_sup}, ?MODULE, []).\n"
          "stop(_) -> ok.\n"
          "init([]) ->\n"
          "    Port = list_to_integer(os:getenv(\"DEMO_PORT\")),\n"
          "    UnitsPort = list_to_integer(os:getenv(\"UNITS_PORT\")),\n"
          "    {ok, {#{strategy => one_for_one},\n"
          "          [reactor:child_spec(hello, #{protocol => {priv, demoapp, \"hello.ts\"}}),\n"
          "           reactor:listener_child_spec(hello, #{ip => {127,0,0,1}, port => Port,\n"
          "                                                context => reactor_context:ref(hello)}),\n"
          "           reactor:child_spec(units, #{protocol => {priv, demoapp, \"units/units.ts\"}}),\n"
          "           reactor:listener_child_spec(units, #{ip => {127,0,0,1}, port => UnitsPort,\n"
          "                                                context => reactor_context:ref(units)})]}}.\n"),
    [begin
         {ok, Text} = file:read_file(reactor_test_lib:fixture("units/" ++ F)),
         write_file(App, "priv/units/" ++ F, Text)
     end || F <- ["package.json", "package-lock.json", "units.ts"]],
    write_file(App, "priv/hello.ts",
          "import { Protocol, Action } from \"erlang-reactor\";\n"
          "export default class Hello extends Protocol {\n"
          "  dataReceived(d: Buffer): Action {\n"
          "    this.writeBuffer.push(`hello ${d.toString().trim()} from a release`);\n"
          "    return \"write_pending\";\n"
          "  }\n"
          "}\n").

release_moved_foreground(Config) ->
    Dir = ?config(moved, Config),
    shipped(Dir),
    Port = free_port(),
    UnitsPort = free_port(),
    Fg = open_port({spawn_executable, filename:join(Dir, "bin/demoapp")},
                   [{args, ["foreground"]}, {env, [{"DEMO_PORT", integer_to_list(Port)},
                                                   {"UNITS_PORT", integer_to_list(UnitsPort)}]},
                    {cd, "/"}, exit_status, stderr_to_stdout, binary]),
    ok = serves(Port, 30000),
    ok = serves_units(Dir, UnitsPort),
    Stop = sh(Dir, "bin/demoapp stop 2>&1"),
    ct:log("stop: ~ts", [Stop]),
    receive {Fg, {exit_status, Status}} -> ?assertEqual(0, Status)
    after 20000 -> error(release_did_not_stop)
    end,
    nothing_left(Dir, Port).

tarball_unpacked_daemon(Config) ->
    Dir = ?config(unpacked, Config),
    shipped(Dir),
    Port = free_port(),
    UnitsPort = free_port(),
    Out = sh(Dir, "DEMO_PORT=" ++ integer_to_list(Port) ++ " UNITS_PORT=" ++ integer_to_list(UnitsPort)
             ++ " bin/demoapp daemon 2>&1"),
    ct:log("daemon: ~ts", [Out]),
    ok = serves(Port, 30000),
    ok = serves_units(Dir, UnitsPort),
    Ping = sh(Dir, "bin/demoapp ping 2>&1"),
    ?assertMatch({match, _}, re:run(Ping, "pong")),
    sh(Dir, "bin/demoapp stop 2>&1"),
    nothing_left(Dir, Port).

%% What the release carries of reactor: priv/ holds what Node needs at run
%% time, and nothing of the build (no node_modules, no TypeScript, no jest).
%% The application's protocol has its own packages: production ones only.
shipped(Dir) ->
    [Lib] = filelib:wildcard(filename:join(Dir, "lib/reactor-*")),
    Priv = filename:join(Lib, "priv"),
    {ok, Files} = file:list_dir(Priv),
    ct:pal("~ts/priv: ~p~nshipped size of reactor: ~ts", [Lib, lists:sort(Files),
                                                         sh(Lib, "du -sh . | cut -f1")]),
    [?assert(lists:member(F, Files)) || F <- ["reactor_port.js", "reactor_addon.node", "reactor_nif.so",
                                              "erlpack.node", "esbuild", "esbuild-api.js"]],
    ?assertEqual([], filelib:wildcard(filename:join(Lib, "**/node_modules"))),
    ?assertEqual([], filelib:wildcard(filename:join(Dir, "**/typescript*"))),
    ?assertEqual([], filelib:wildcard(filename:join(Lib, "ts"))),
    Units = filename:join(Dir, "lib/demoapp-0.1.0/priv/units"),
    %% npm ci's own record, and the one package: no dev dependencies
    ?assertEqual({ok, [".package-lock.json", "ms"]},
                 case file:list_dir(filename:join(Units, "node_modules")) of
                     {ok, Fs} -> {ok, lists:sort(Fs)};
                     E -> E
                 end),
    {ok, Pkg} = file:read_file(filename:join(Units, "node_modules/ms/package.json")),
    ?assertMatch({match, _}, re:run(Pkg, "\"version\": \"2.1.3\"")).

%% The protocol with the npm package answers with it: ms("2 days"), loaded
%% from the release's own node_modules, wherever the release was moved.
serves_units(Dir, Port) ->
    Ask = fun() ->
                  case gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {packet, line}], 1000) of
                      {ok, S} ->
                          ok = gen_tcp:send(S, <<"2 days\n">>),
                          R = gen_tcp:recv(S, 0, 5000),
                          gen_tcp:close(S),
                          R;
                      E -> E
                  end
          end,
    ok = reactor_test_lib:wait_until(fun() -> element(1, Ask()) =:= ok end, 30000),
    {ok, Line} = Ask(),
    ct:log("units: ~ts", [Line]),
    From = filename:join(Dir, "lib/demoapp-0.1.0/priv/units/node_modules/ms/index.js"),
    ?assertEqual(iolist_to_binary(["172800000 ms, by ", From, "\n"]), Line),
    ok.

serves(Port, Timeout) ->
    reactor_test_lib:wait_until(
      fun() ->
              case gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}], 1000) of
                  {ok, S} ->
                      ok = gen_tcp:send(S, <<"world">>),
                      R = gen_tcp:recv(S, 0, 5000),
                      gen_tcp:close(S),
                      R =:= {ok, <<"hello world from a release">>};
                  _ -> false
              end
      end, Timeout).

%% The release's BEAM and its Node are gone, and so is the port.
nothing_left(Dir, Port) ->
    ok = reactor_test_lib:wait_until(
           fun() -> string:trim(os:cmd("pgrep -f '" ++ Dir ++ "/erts.*/beam'")) =:= "" end, 20000),
    ok = reactor_test_lib:wait_until(
           fun() -> string:trim(os:cmd("pgrep -f '" ++ Dir ++ "/lib/reactor'")) =:= "" end, 10000),
    ?assertMatch({error, econnrefused}, gen_tcp:connect({127, 0, 0, 1}, Port, [], 1000)).
