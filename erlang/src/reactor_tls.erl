%% @doc TLS options as the port takes them, and which option sets a context's
%% Node process already has. TLS is terminated in Node, which gets the files'
%% paths: they are checked here first, so a typo is a clear error where the
%% options are given (a context's start, a listener's start).
-module(reactor_tls).

-export([options/1, keys/1, keys/2, key/2, starttls_key/2]).

-export_type([opts/0, keys/0]).

-type opts() :: #{certfile := file:filename_all(), keyfile := file:filename_all(),
                  cacertfile => file:filename_all(), verify => verify_peer | verify_none,
                  fail_if_no_peer_cert => boolean(), alpn => [iodata()],
                  handshake_timeout => non_neg_integer()}.

%% Key 0 is the context's own `tls'; the others are sent once each, in
%% tls_config frames. A context takes this many distinct sets at most: a caller
%% making a new one per connection would otherwise grow both sides without bound.
-define(MAX_KEYS, 256).

-opaque keys() :: #{own := boolean(), starttls := opts() | undefined,
                    by_opts := #{map() => pos_integer()}, next := pos_integer()}.

%% @doc Validated options with absolute paths as binaries, every default
%% filled in; throws `{tls_file_not_found, Key, Path}' or
%% `{bad_tls_options, Term}'. The defaults of `verify' (verify_none) and
%% `fail_if_no_peer_cert' (true) live here only: Node takes both as sent
%% (ts/tls-config.ts refuses a set without them).
-spec options(opts()) -> map().
options(#{certfile := Cert, keyfile := Key} = T) ->
    Files = [{K, F} || {K, F} <- [{certfile, Cert}, {keyfile, Key},
                                   {cacertfile, maps:get(cacertfile, T, undefined)}],
                       F =/= undefined],
    [filelib:is_regular(F) orelse throw({tls_file_not_found, K, F}) || {K, F} <- Files],
    Paths = maps:from_list([{K, unicode:characters_to_binary(filename:absname(F))} || {K, F} <- Files]),
    Paths#{verify => maps:get(verify, T, verify_none),
           fail_if_no_peer_cert => maps:get(fail_if_no_peer_cert, T, true),
           alpn => [iolist_to_binary(A) || A <- maps:get(alpn, T, [])],
           handshake_timeout => maps:get(handshake_timeout, T, reactor_config:default(handshake_timeout))};
options(Other) ->
    throw({bad_tls_options, Other}).

%% @doc No option set sent yet; `Own': the context has a `tls' option (key 0).
-spec keys(boolean()) -> keys().
keys(Own) -> keys(Own, undefined).

%% @doc As keys/1, with the context's `starttls' option set (`undefined':
%% none): what a connection's `starttls => default' names. Keyed as any other
%% set, sent when a handoff first names it.
-spec keys(boolean(), opts() | undefined) -> keys().
keys(Own, StartTls) -> #{own => Own, starttls => StartTls, by_opts => #{}, next => 1}.

%% @doc The key a connection's TLS setting names (`false': none), and the
%% frames that must reach Node before its handoff. Throws like options/1, or
%% `too_many_tls_configs'.
-spec key(default | false | opts(), keys()) -> {false | non_neg_integer(), [binary()], keys()}.
key(false, Keys) -> {false, [], Keys};
key(default, #{own := true} = Keys) -> {0, [], Keys};
key(default, Keys) -> {false, [], Keys};
key(Opts, #{by_opts := ByOpts, next := Next} = Keys) when is_map(Opts) ->
    case ByOpts of
        #{Opts := Key} -> {Key, [], Keys};
        _ when Next > ?MAX_KEYS -> throw(too_many_tls_configs);
        _ ->
            Frame = reactor_wire:tls_config(Next, options(Opts)),
            {Next, [Frame], Keys#{by_opts := ByOpts#{Opts => Next}, next := Next + 1}}
    end.

%% @doc The key of the option set Protocol.startTls uses (`false': none), and
%% the frames that must reach Node before the handoff: `default' is the
%% context's own `starttls' if it has one. Throws like key/2.
-spec starttls_key(default | false | opts(), keys()) -> {false | pos_integer(), [binary()], keys()}.
starttls_key(default, #{starttls := undefined} = Keys) -> {false, [], Keys};
starttls_key(default, #{starttls := Opts} = Keys) -> key(Opts, Keys);
starttls_key(Choice, Keys) -> key(Choice, Keys).
