S Nowadays , surveillance technology is use in almost every public place .
A 2 2|||ArtOrDet|||the|||REQUIRED|||-NONE-|||0
A 5 6|||Vform|||used|||REQUIRED|||-NONE-|||0
A 5 6|||Vform|||used|||REQUIRED|||-NONE-|||1

S Many people believes that cameras can prevented crimes in the city .
A 2 3|||SVA|||believe|||REQUIRED|||-NONE-|||0
A 6 7|||Vform|||prevent|||REQUIRED|||-NONE-|||0
A 2 3|||SVA|||believe|||REQUIRED|||-NONE-|||1
A 6 7|||Vform|||prevent|||REQUIRED|||-NONE-|||1

S However , there is also some disadvantage that we should consider .
A 3 4|||SVA|||are|||REQUIRED|||-NONE-|||0
A 6 7|||Nn|||disadvantages|||REQUIRED|||-NONE-|||0
A 3 4|||SVA|||are|||REQUIRED|||-NONE-|||1
A 6 7|||Nn|||disadvantages|||REQUIRED|||-NONE-|||1

S The government should protect the privacy of its citizens .

S First of all , a cost of installing cameras are very high .
A 4 5|||ArtOrDet|||the|||REQUIRED|||-NONE-|||0
A 9 10|||SVA|||is|||REQUIRED|||-NONE-|||0
A 9 10|||SVA|||is|||REQUIRED|||-NONE-|||1

S In my opinion , the benefits overweigh the cost .
A 6 7|||Wci|||outweigh|||REQUIRED|||-NONE-|||0
A 8 9|||Nn|||costs|||REQUIRED|||-NONE-|||0
A 6 7|||Wci|||outweigh|||REQUIRED|||-NONE-|||1

S Beside , criminals can easily avoid from the cameras by wearing masks .
A 0 1|||Wform|||Besides|||REQUIRED|||-NONE-|||0
A 5 7|||Prep|||avoid|||REQUIRED|||-NONE-|||0
A 0 1|||Wform|||Besides|||REQUIRED|||-NONE-|||1
A 5 7|||Prep|||avoid|||REQUIRED|||-NONE-|||1

S The police have been used this data for solve many cases in the past .
A 2 5|||Vform|||have used|||REQUIRED|||-NONE-|||0
A 7 8|||Prep|||to|||REQUIRED|||-NONE-|||0
A 2 5|||Vt|||used|||REQUIRED|||-NONE-|||1
A 7 8|||Prep|||to|||REQUIRED|||-NONE-|||1

S Some people feel unsafe when they are being watched all the time .
A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||1

S Genetic testing allow doctors to found diseases earlier .
A 2 3|||SVA|||allows|||REQUIRED|||-NONE-|||0
A 5 6|||Vform|||find|||REQUIRED|||-NONE-|||0
A 2 3|||SVA|||allows|||REQUIRED|||-NONE-|||1
A 5 6|||Vform|||find|||REQUIRED|||-NONE-|||1

S If a person know that he carry a faulty gene , he can change his lifestyle .
A 3 4|||SVA|||knows|||REQUIRED|||-NONE-|||0
A 6 7|||SVA|||carries|||REQUIRED|||-NONE-|||0
A 3 4|||SVA|||knows|||REQUIRED|||-NONE-|||1
A 6 7|||SVA|||carries|||REQUIRED|||-NONE-|||1

S On the other hand , the result of test may cause a great anxiety .
A 8 8|||ArtOrDet|||the|||REQUIRED|||-NONE-|||0
A 11 12|||ArtOrDet||||||REQUIRED|||-NONE-|||0
A 8 8|||ArtOrDet|||the|||REQUIRED|||-NONE-|||1
A 11 13|||ArtOrDet|||great|||REQUIRED|||-NONE-|||1

S Insurance companies may refuse to sell policy to people with high risk .
A 2 3|||Vm|||might|||REQUIRED|||-NONE-|||0
A 6 7|||Nn|||policies|||REQUIRED|||-NONE-|||0
A 10 10|||ArtOrDet|||a|||REQUIRED|||-NONE-|||0
A 6 7|||Nn|||policies|||REQUIRED|||-NONE-|||1
A 10 10|||ArtOrDet|||a|||REQUIRED|||-NONE-|||1

S This is clearly unfair to the patients and their families .

S Therefore the results must be kept secretly .
A 1 1|||Mec|||,|||REQUIRED|||-NONE-|||0
A 6 7|||Wform|||secret|||REQUIRED|||-NONE-|||0
A 1 1|||Mec|||,|||REQUIRED|||-NONE-|||1
A 6 7|||Wform|||secret|||REQUIRED|||-NONE-|||1

S The number of elderly in Singapore is increasing rapidly .
A 4 4|||Wci|||people|||REQUIRED|||-NONE-|||0
A 6 8|||Vt|||has been increasing|||REQUIRED|||-NONE-|||0
A 4 4|||Wci|||people|||REQUIRED|||-NONE-|||1

S This phenomena will put a pressure on the younger generation .
A 1 2|||Nn|||phenomenon|||REQUIRED|||-NONE-|||0
A 4 5|||ArtOrDet||||||REQUIRED|||-NONE-|||0
A 1 2|||Nn|||phenomenon|||REQUIRED|||-NONE-|||1
A 4 5|||ArtOrDet||||||REQUIRED|||-NONE-|||1

S Young people has to work harder to support parents .
A 2 3|||SVA|||have|||REQUIRED|||-NONE-|||0
A 8 8|||ArtOrDet|||their|||REQUIRED|||-NONE-|||0
A 2 3|||SVA|||have|||REQUIRED|||-NONE-|||1
A 8 8|||ArtOrDet|||their|||REQUIRED|||-NONE-|||1

S In addition , the government needs to build more nursing homes .
A -1 -1|||noop|||-NONE-|||REQUIRED|||-NONE-|||1

S Although health care system is good , but it is very expensive .
A 1 1|||ArtOrDet|||the|||REQUIRED|||-NONE-|||0
A 7 8|||Trans||||||REQUIRED|||-NONE-|||0
A 1 1|||ArtOrDet|||the|||REQUIRED|||-NONE-|||1
A 7 8|||Trans||||||REQUIRED|||-NONE-|||1

S Many old people does not have enough saving for their retirement .
A 3 4|||SVA|||do|||REQUIRED|||-NONE-|||0
A 7 8|||Nn|||savings|||REQUIRED|||-NONE-|||0
A 3 4|||SVA|||do|||REQUIRED|||-NONE-|||1
A 7 8|||Nn|||savings|||REQUIRED|||-NONE-|||1

S It is important to everyone to plan their future .
A 3 4|||Prep|||for|||REQUIRED|||-NONE-|||0
A 7 7|||Prep|||for|||REQUIRED|||-NONE-|||0
A 3 4|||Prep|||for|||REQUIRED|||-NONE-|||1

S Social media have changed the way how people communicate .
A 2 3|||SVA|||has|||REQUIRED|||-NONE-|||0
A 6 7|||Others||||||REQUIRED|||-NONE-|||0
A 2 3|||SVA|||has|||REQUIRED|||-NONE-|||1
A 6 7|||Others||||||REQUIRED|||-NONE-|||1

S Teenagers spends many hours on there phones every day .
A 1 2|||SVA|||spend|||REQUIRED|||-NONE-|||0
A 5 6|||Mec|||their|||REQUIRED|||-NONE-|||0
A 1 2|||SVA|||spend|||REQUIRED|||-NONE-|||1
A 5 6|||Mec|||their|||REQUIRED|||-NONE-|||1

S As a result , they became less active and more lonely .
A 5 6|||Vt|||become|||REQUIRED|||-NONE-|||0
A 9 11|||Wform|||lonelier|||REQUIRED|||-NONE-|||0
A 5 6|||Vt|||become|||REQUIRED|||-NONE-|||1

S Parents should talk with their children about the dangers of the internet .

S Infact , most of the information online are not checked by anyone .
A 0 1|||Mec|||In fact|||REQUIRED|||-NONE-|||0
A 7 8|||SVA|||is|||REQUIRED|||-NONE-|||0
A 0 1|||Mec|||In fact|||REQUIRED|||-NONE-|||1
A 7 8|||SVA|||is|||REQUIRED|||-NONE-|||1

S Public transport in big cities is cheap and convinient .
A 3 3|||ArtOrDet|||the|||REQUIRED|||-NONE-|||0
A 8 9|||Mec|||convenient|||REQUIRED|||-NONE-|||0
A 8 9|||Mec|||convenient|||REQUIRED|||-NONE-|||1

S To sum up , technology brings much benefits , but we must use it wise .
A 6 7|||Wci|||many|||REQUIRED|||-NONE-|||0
A 14 15|||Wform|||wisely|||REQUIRED|||-NONE-|||0
A 6 7|||Wci|||many|||REQUIRED|||-NONE-|||1
A 14 15|||Wform|||wisely|||REQUIRED|||-NONE-|||1

S I am agree that the advantages of technology outweigh it disadvantages .
A 1 3|||Vform|||agree|||REQUIRED|||-NONE-|||0
A 9 10|||Pref|||its|||REQUIRED|||-NONE-|||0
A 1 3|||Vform|||agree|||REQUIRED|||-NONE-|||1
A 9 10|||Pref|||its|||REQUIRED|||-NONE-|||1

