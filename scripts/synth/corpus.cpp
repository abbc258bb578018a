// The English text grove-synth trains its tokenizer on. Written for grove and placed in the
// public domain. Changing a single character changes every generated tokenizer.json, so treat
// it as frozen. Paragraphs stay below the 4095 characters ISO C++ guarantees for a literal.
#include "scripts/synth/tokenizer.h"

namespace grove::synth {

const std::vector<std::string_view>& training_corpus() {
  static const std::vector<std::string_view> kParagraphs = {
      "The river starts as a thin line of water in the hills above the village. In the spring it "
      "carries snow down from the high fields, and by the middle of summer it is slow and warm "
      "enough for children to wade across. The old miller used to say that a river has two "
      "moods: one for the morning and one for the evening. He kept a small notebook in which he "
      "wrote the height of the water every day for forty years, and when he died his daughter "
      "found that he had never missed a single morning.",

      "A good garden is planned in winter. You sit at the kitchen table with a pencil, a sheet "
      "of paper and a cup of tea, and you draw the beds as they were last year. Then you move "
      "the beans to where the potatoes grew, the potatoes to where the cabbages stood, and the "
      "cabbages to the corner that gets the most light. It's simple work, but it keeps the soil "
      "healthy and the pests guessing. When the ground thaws in March, the plan is ready, and "
      "all that remains is the digging.",

      "Every library has its own quiet. Some are silent like a church, and others hum with the "
      "sound of pages, footsteps and the soft click of keys. The librarian in our town knew "
      "where every book was, even the ones that had been put back on the wrong shelf. She said "
      "that she didn't remember the books themselves; she remembered the people who borrowed "
      "them. If you told her who had been in the week before, she could usually tell you where "
      "the missing book would be found.",

      "Weather changes faster at sea than on land. A sailor learns to read the sky the way other "
      "people read a newspaper: the long streaks of high cloud that come before a storm, the "
      "heavy grey wall that means rain within the hour, the clear green light at sunset that "
      "promises a calm night. The best sailors I have known were not brave so much as careful. "
      "They checked the ropes twice, reefed the sails early, and were never too proud to turn "
      "back for harbour.",

      "Bread needs only four things: flour, water, salt and time. The yeast is already in the "
      "air and on the grain, waiting. Mix the flour and water, let it rest, and the dough begins "
      "to change. It becomes smooth and elastic, it rises, it smells sweet and a little sour. "
      "Shape it, let it rise again, and bake it in a hot oven until the crust sings when you "
      "tap it. A loaf made this way keeps for days, and the last slice is as good as the first "
      "when it is toasted.",

      "The train left the station at seven minutes past nine. There were three carriages, and "
      "most of the passengers were going to the market in the next town. A woman with a basket "
      "of eggs sat by the window; two students argued about a film they had both seen; an old "
      "man read a book about birds and made small notes in the margins. Outside, the fields "
      "were wet with dew, and a heron stood perfectly still at the edge of a pond, as if it had "
      "been painted there.",

      "Numbers have a way of settling arguments. In 1998 the town counted 4,250 people; in 2008 "
      "it counted 5,120; by 2018 there were 6,300, and the school had to build two new "
      "classrooms. The council met on the first Tuesday of each month, at 7 pm, in the hall "
      "next to the post office. Anyone could attend, and anyone could speak for up to 3 "
      "minutes. Most meetings ended by 9, but the one about the new bridge went on until well "
      "after midnight.",

      "Learning to play an instrument is mostly learning to listen. At first you hear only the "
      "mistakes: the wrong note, the rushed beat, the string that buzzes. Later you begin to "
      "hear the shape of a phrase, the way a melody leans forward and then rests. A teacher "
      "once told me that practice is not about playing something many times, but about playing "
      "it once with full attention, and then again, and then again. I've tried to remember "
      "that in other work as well.",

      "The map on the wall of the station showed every path in the forest, marked in red, blue "
      "and yellow. The red paths were short and easy, good for families with small children. "
      "The blue paths climbed to the ridge and came down the other side near the lake. The "
      "yellow path went all the way round, twenty miles through pine and birch, past the ruins "
      "of a castle and a spring where the water was said to be the coldest in the country. We "
      "chose the yellow path, of course.",

      "Software is written by people for people, and only incidentally for machines. A program "
      "that works but cannot be read will not survive the next change. Good code tells a story: "
      "it names things for what they are, it keeps related ideas together, and it explains why "
      "a choice was made when the reason is not obvious. When something fails, it says what "
      "failed and where. Tests are the part of the story that proves the rest is true, and a "
      "change that breaks them should not be shipped.",

      "Models are shared the way recipes once were. Someone trains a base model on a large "
      "collection of text, and others adapt it: they fine-tune it for chat, for code, for a "
      "language or a domain. Each new version differs from the one before in small ways, and "
      "most of the numbers inside stay almost the same. A hub that stores these versions can "
      "save a great deal of space by noticing what they have in common, and it can show the "
      "family tree that connects them.",

      "The lighthouse keeper's day began at dusk. He climbed the hundred and twelve steps, "
      "trimmed the wick, polished the great lens and wound the clockwork that turned it. Then "
      "he wrote in the log: the time, the wind, the state of the sea, and the ships that passed. "
      "Most nights were uneventful. But once, in a winter gale, he saw a fishing boat drift "
      "toward the rocks with its engine dead, and he rang the bell until the lifeboat came. The "
      "crew of five were all brought home safe.",

      "Cats and dogs understand time differently. A dog knows when you are late; it waits by the "
      "door and greets you as if you had been gone a year. A cat knows exactly when dinner is "
      "due, and it will tell you, loudly, five minutes before. Neither of them cares what the "
      "clock says. They live by the light, the sounds of the house and the habits of the people "
      "in it, and they are rarely wrong. We could learn something from them about paying "
      "attention to what is actually happening.",

      "Autumn came early that year. By the end of September the oaks were brown and the maples "
      "had turned a red so bright that people stopped their cars to look. Apples fell in the "
      "orchard faster than we could pick them, and the whole valley smelled of cider. In the "
      "evenings we lit the stove for the first time and sat around it, talking about the summer "
      "as though it were already a long time ago. The geese flew south in long lines, calling "
      "to each other over the roof.",

      "A bridge is a promise that the other side is worth reaching. The engineers who built the "
      "stone bridge over the gorge spent two years on the foundations alone, because the rock "
      "was softer than they had expected. They tested each block, measured each joint, and "
      "kept careful records that can still be read in the town archive. The bridge has carried "
      "carts, horses, buses and lorries for a hundred and fifty years, and it has never needed "
      "more than a little new mortar.",

      "Questions are more useful than answers when you are starting something new. What problem "
      "are we solving? Who has it, and how do they solve it today? What would make them switch? "
      "What is the smallest version we could build this week to find out whether we are right? "
      "Teams that ask these questions early waste less time later. They still make mistakes, "
      "but they make them quickly and cheaply, and they learn from each one before the next "
      "decision has to be made.",

      "The market opened at dawn on Saturdays. Farmers drove in from the hills with crates of "
      "carrots, onions, leeks and beetroot still covered in soil. The cheese maker set out her "
      "wheels on a long wooden table, and the baker sold out of rye bread before eight. There "
      "was a stall for honey, one for flowers, one for knives that an old man sharpened while "
      "you waited. By noon the square was empty again, except for the pigeons and a few "
      "children chasing them.",

      "Writing a letter by hand is slower than sending a message, and that is the point. You "
      "choose your words more carefully when you cannot delete them. You think about the person "
      "who will open the envelope, where they will be sitting, what the weather will be like. My "
      "grandmother wrote to her sister every Sunday for sixty years. The letters are in a box "
      "in the attic now, tied with string, and together they tell the history of two families "
      "better than any book could.",
  };
  return kParagraphs;
}

}  // namespace grove::synth
