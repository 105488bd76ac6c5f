from bayar.cli import main

main()
