from gbltr.cli import main

main()
