# A mix project that serves a TypeScript protocol through erlang-reactor.
#
#   mix local.rebar rebar3 "$(command -v rebar3)"   # once: Mix builds reactor with rebar3
#   mix deps.get && mix run --no-halt               # serves priv/upcase.ts on 127.0.0.1:7070
#
# REACTOR_GIT picks where the dependency comes from (a git URL); by default it
# is this repository's own checkout, two directories up.
defmodule ReactorExample.MixProject do
  use Mix.Project

  def project do
    [
      app: :reactor_example,
      version: "0.1.0",
      elixir: "~> 1.14",
      deps: deps(),
      releases: [reactor_example: [include_executables_for: [:unix]]]
    ]
  end

  def application do
    [mod: {ReactorExample.Application, []}, extra_applications: [:logger]]
  end

  defp deps do
    case System.get_env("REACTOR_GIT") do
      nil -> [{:reactor, path: "../..", manager: :rebar3}]
      url -> [{:reactor, git: url, branch: "main", manager: :rebar3}]
    end
  end
end
