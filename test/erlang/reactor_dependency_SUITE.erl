%% erlang-reactor as a rebar3 dependency: a throwaway application depends on
%% this checkout, drops a .ts protocol into its own priv dir and serves a
%% connection through it, in a fresh BEAM.
-module(reactor_dependency_SUITE).
-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-compile([export_all, nowarn_export_all]).

-import(reactor_test_lib, [write_file/3, sh/2]).

all() -> [serves_from_a_dependent_app].

suite() -> [{timetrap, {minutes, 5}}].

serves_from_a_dependent_app(Config) ->
    App = filename:join(?config(priv_dir, Config), "demoapp"),
    ok = filelib:ensure_path(filename:join(App, "_checkouts")),
    ok = file:make_symlink(reactor_test_lib:root(), filename:join([App, "_checkouts", "reactor"])),
    write_file(App, "rebar.config", "{deps, [reactor]}.\n"),
    write_file(App, "src/demoapp.app.src",
          "{application, demoapp, [{vsn, \"0.1.0\"}, {registered, []},\n"
          " {applications, [kernel, stdlib, reactor]}, {env, []}]}.\n"),
    write_file(App, "priv/hello.ts",
          "import { Protocol, Action } from \"erlang-reactor\";\n"
          "export default class Hello extends Protocol {\n"
          "  dataReceived(d: Buffer): Action {\n"
          "    this.writeBuffer.push(`hello ${d.toString().trim()} from demoapp`);\n"
          "    return \"write_pending\";\n"
          "  }\n"
          "}\n"),
    write_file(App, "src/demoapp.erl",
          "-module(demoapp).\n-export([check/0]).\n"
          "check() ->\n"
          "    {ok, _} = application:ensure_all_started(demoapp),\n"
          "    {ok, Ctx} = reactor_context:start_link(demo, #{protocol => {priv, demoapp, \"hello.ts\"}}),\n"
          "    {ok, _} = reactor:start_listener(demo, #{ip => {127,0,0,1}, port => 0, context => Ctx}),\n"
          "    {ok, S} = gen_tcp:connect({127,0,0,1}, reactor:listener_port(demo), [binary, {active, false}]),\n"
          "    ok = gen_tcp:send(S, <<\"world\">>),\n"
          "    {ok, Reply} = gen_tcp:recv(S, 0, 5000),\n"
          "    io:format(\"REPLY:~s~n\", [Reply]),\n"
          "    ok = reactor_context:stop(Ctx).\n"),
    Build = sh(App, "rebar3 compile 2>&1"),
    ct:log("~s", [Build]),
    ?assertMatch({match, _}, re:run(Build, "Compiling demoapp")),
    Paths = string:join(filelib:wildcard(filename:join(App, "_build/default/*/*/ebin")), " -pa "),
    Out = sh(App, "erl -noshell -pa " ++ Paths ++ " -eval 'demoapp:check(), halt().' 2>&1"),
    ct:log("~s", [Out]),
    ?assertMatch({match, _}, re:run(Out, "REPLY:hello world from demoapp")).
