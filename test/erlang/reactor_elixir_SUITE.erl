%% Elixir: the mix project in examples/elixir depends on this tree through a
%% git dependency (manager: :rebar3), is released with `mix release', moved
%% away from its build and source, started as a daemon, serves a connection
%% through its TypeScript protocol, and stops.
-module(reactor_elixir_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [free_port/0, sh/2]).

all() -> [mix_release_serves].

suite() -> [{timetrap, {minutes, 8}}].

mix_release_serves(_Config) ->
    %% .ci/install-deps installs Debian's elixir: its absence is a failure
    Mix = os:find_executable("mix"),
    ?assertNotEqual(false, Mix),
    Work = "/tmp/reactor-elixir-" ++ integer_to_list(erlang:unique_integer([positive])),
    ok = file:make_dir(Work),
    try
        Src = reactor_test_lib:git_snapshot(Work),
        App = filename:join(Work, "app"),
        "" = sh(Work, "cp -r '" ++ reactor_test_lib:example("elixir") ++ "' " ++ App
                ++ " && rm -rf " ++ App ++ "/_build " ++ App ++ "/deps"),
        Env = "export LANG=C.UTF-8 MIX_ENV=prod MIX_REBAR3=" ++ os:find_executable("rebar3")
              ++ " REACTOR_GIT=file://" ++ Src ++ "; ",
        Build = sh(App, Env ++ "mix deps.get 2>&1 && mix release --overwrite 2>&1; echo EXIT=$?"),
        ct:log("~ts", [Build]),
        ?assertMatch({match, _}, re:run(Build, "EXIT=0")),
        Rel = filename:join(Work, "rel"),
        "" = sh(Work, "cp -a " ++ App ++ "/_build/prod/rel/reactor_example " ++ Rel
                ++ " && rm -rf " ++ App ++ " " ++ Src),
        Port = free_port(),
        Start = sh(Rel, "LANG=C.UTF-8 PORT=" ++ integer_to_list(Port) ++ " bin/reactor_example daemon 2>&1"),
        ct:log("daemon: ~ts", [Start]),
        ok = reactor_test_lib:wait_until(fun() -> upcases(Port) end, 30000),
        sh(Rel, "bin/reactor_example stop 2>&1"),
        ok = reactor_test_lib:wait_until(
               fun() -> string:trim(os:cmd("pgrep -f '" ++ Rel ++ "/erts.*/beam'")) =:= "" end, 20000),
        ?assertMatch({error, econnrefused}, gen_tcp:connect({127, 0, 0, 1}, Port, [], 1000))
    after
        os:cmd("pkill -f '" ++ Work ++ "/.*/epmd'"),
        os:cmd("rm -rf " ++ Work)
    end.

upcases(Port) ->
    case gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}], 1000) of
        {ok, S} ->
            ok = gen_tcp:send(S, <<"from elixir\n">>),
            R = gen_tcp:recv(S, 0, 5000),
            gen_tcp:close(S),
            R =:= {ok, <<"FROM ELIXIR\n">>};
        _ -> false
    end.
