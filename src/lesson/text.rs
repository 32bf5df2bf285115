//! The lesson's text, one table per language: each step's title, sentences, question and choices, in the order
//! of the steps' figures. The answers and their explanations with the reader's numbers live in
//! [`super::steps`].

/// How many steps.
pub const STEPS: usize = 10;

/// The text of one step in one language.
pub struct StepText {
    /// The step's title.
    pub title: &'static str,
    /// Two to five sentences.
    pub body: &'static [&'static str],
    /// The question the reader answers before the app checks it.
    pub question: &'static str,
    /// The choices.
    pub choices: &'static [&'static str],
}

/// English.
pub static EN: [StepText; STEPS] = [
    StepText {
        title: "1 · Text becomes tokens",
        body: &[
            "The model never sees letters. A tokenizer cuts your text into pieces from a fixed vocabulary and the model reads their ids.",
            "Common words are one token; rare words, names and Chinese characters are split into several, down to single bytes.",
            "Each token becomes one row and one column of every attention matrix, so the matrix grows as the square of the token count.",
        ],
        question: "Compared with the words in your text (split at spaces), how many tokens does the model read?",
        choices: &["fewer tokens than words", "exactly one per word", "more tokens than words"],
    },
    StepText {
        title: "2 · Queries, keys and the score matrix",
        body: &[
            "Each token makes a query (what it looks for) and a key (what it offers) with learned weights.",
            "Score S[i][j] = q_i · k_j / √d says how well token i's query matches token j's key.",
            "The figure shows one head's S before the causal mask, over every pair.",
        ],
        question: "Is the score matrix S symmetric (S[i][j] = S[j][i])?",
        choices: &["yes", "no"],
    },
    StepText {
        title: "3 · Softmax rows",
        body: &[
            "The causal mask hides every later token, then softmax turns each row of scores into probabilities.",
            "Row i now says where token i looks: its entries are ≥ 0 and add up to 1.",
            "Entropy measures how spread a row is: 0 bits when it looks at one token only.",
        ],
        question: "What is the entropy of token 0's row?",
        choices: &["0 bits", "1 bit", "log₂(number of tokens) bits"],
    },
    StepText {
        title: "4 · The attention graph",
        body: &[
            "Read the matrix as a directed graph: tokens are nodes, A[i][j] is the weight of the edge i → j.",
            "The figure draws the strongest edges of the selected head.",
            "Hover a token to see where it looks.",
        ],
        question: "Without the self-loops, is this graph a DAG (no path that comes back to where it started)?",
        choices: &["yes", "no"],
    },
    StepText {
        title: "5 · A Markov chain",
        body: &[
            "A matrix whose rows are probabilities is a Markov transition matrix.",
            "Put a walker on token i; at each step it moves to token j with probability A[i][j].",
            "A state the walker never leaves is absorbing.",
        ],
        question: "Which token is absorbing?",
        choices: &["token 0", "another token", "none"],
    },
    StepText {
        title: "6 · Many steps: A^k and the sink",
        body: &[
            "A^k holds where walkers stand after k steps.",
            "The figure plots the share of walkers on token 0 for k = 1 to 8, started one on each token.",
            "Trained models also park spare attention on token 0 (a sink), so this drain is strong in real heads.",
        ],
        question: "After 8 steps, what share of the walkers is on token 0?",
        choices: &["less than half", "more than half"],
    },
    StepText {
        title: "7 · Next-token probabilities",
        body: &[
            "Attention mixes information between tokens; MLPs compute on each token; at the end, position t gives a probability to every possible next token.",
            "The table shows p(x_t | x_<t) of each token of your text, with the model's top guesses.",
            "Repeats are a test: a model with an induction head copies what followed the first time.",
        ],
        question: "Does a token your text repeats get a higher probability the second time?",
        choices: &["yes, higher", "no, lower"],
    },
    StepText {
        title: "8 · Perplexity",
        body: &[
            "Multiply the probabilities of every token given the ones before it and you get the probability of the whole text: the chain rule.",
            "Perplexity is exp of the mean negative log-probability: the inverse geometric mean of those probabilities.",
            "The plot shows it running along your text.",
        ],
        question: "Guess your text's perplexity.",
        choices: &["below 10", "10 to 100", "above 100"],
    },
    StepText {
        title: "9 · Bits and compression",
        body: &[
            "−log₂ p is the number of bits an ideal coder driven by the model spends on a token.",
            "Summed over the text and divided by its bytes, that is bits per byte, comparable across tokenizers and with gzip.",
            "A model that predicts well compresses well: the two are one quantity (Shannon).",
        ],
        question: "Does the model need fewer than the 8 bits per byte that plain text takes?",
        choices: &["yes, fewer", "no, 8 or more"],
    },
    StepText {
        title: "10 · What a head contributes",
        body: &[
            "Attention is communication between tokens; the MLP is computation inside each token.",
            "Both add vectors to one residual stream, and the final logit is a sum of their shares: direct logit attribution.",
            "The grid colours every head by its share of the last token's logit; knock a head out to see its whole effect.",
        ],
        question: "Which adds more to the last token's logit directly?",
        choices: &["all attention heads together", "all MLPs together"],
    },
];

/// Traditional Chinese.
pub static ZH_HANT: [StepText; STEPS] = [
    StepText {
        title: "1 · 文字變成詞元",
        body: &[
            "模型看不到字母。分詞器把文字切成固定詞彙表裡的片段，模型讀的是它們的編號。",
            "常見的詞是一個詞元；罕見的詞、人名和中文字會被切成好幾個，甚至單一位元組。",
            "每個詞元都是每個注意力矩陣的一列與一行，所以矩陣隨詞元數的平方增長。",
        ],
        question: "和你文字中的詞（以空白分開）相比，模型讀到幾個詞元？",
        choices: &["詞元比詞少", "每個詞剛好一個", "詞元比詞多"],
    },
    StepText {
        title: "2 · 查詢、鍵與分數矩陣",
        body: &[
            "每個詞元用學到的權重做出一個查詢（它在找什麼）和一個鍵（它提供什麼）。",
            "分數 S[i][j] = q_i · k_j / √d 表示詞元 i 的查詢和詞元 j 的鍵有多相配。",
            "圖中是某一個頭在因果遮罩之前、所有配對的 S。",
        ],
        question: "分數矩陣 S 是對稱的嗎（S[i][j] = S[j][i]）？",
        choices: &["是", "不是"],
    },
    StepText {
        title: "3 · Softmax 之後的每一列",
        body: &[
            "因果遮罩把後面的詞元都遮住，softmax 再把每一列分數變成機率。",
            "第 i 列說明詞元 i 看向哪裡：每一格 ≥ 0，總和為 1。",
            "熵衡量一列有多分散：只看一個詞元時是 0 位元。",
        ],
        question: "詞元 0 那一列的熵是多少？",
        choices: &["0 位元", "1 位元", "log₂(詞元數) 位元"],
    },
    StepText {
        title: "4 · 注意力圖",
        body: &[
            "把矩陣讀成有向圖：詞元是節點，A[i][j] 是邊 i → j 的權重。",
            "圖中畫出所選注意力頭最強的邊。",
            "把游標移到詞元上，看它看向哪裡。",
        ],
        question: "去掉自環之後，這張圖是有向無環圖（DAG，沒有繞回原點的路徑）嗎？",
        choices: &["是", "不是"],
    },
    StepText {
        title: "5 · 馬可夫鏈",
        body: &[
            "每一列都是機率分布的矩陣，就是馬可夫轉移矩陣。",
            "把一個隨機漫步者放在詞元 i；每一步它以機率 A[i][j] 走到詞元 j。",
            "隨機漫步者永遠離不開的狀態叫吸收態。",
        ],
        question: "哪個詞元是吸收態？",
        choices: &["詞元 0", "別的詞元", "沒有"],
    },
    StepText {
        title: "6 · 走很多步：A^k 與匯點",
        body: &[
            "A^k 記錄走 k 步之後隨機漫步者在哪裡。",
            "圖中畫出 k = 1 到 8 時，詞元 0 上的平均機率質量。",
            "訓練過的模型也會把多餘的注意力停在詞元 0（匯點），所以在真實的頭裡，機率質量流向詞元 0 特別明顯。",
        ],
        question: "走 8 步之後，有多少機率質量停在詞元 0？",
        choices: &["不到一半", "超過一半"],
    },
    StepText {
        title: "7 · 下一個詞元的機率",
        body: &[
            "注意力在詞元之間交換資訊；MLP 在每個詞元內部計算；最後，位置 t 給每一個可能的下一個詞元一個機率。",
            "表中是你文字裡每個詞元的 p(x_t | x_<t)，以及模型的前幾個猜測。",
            "重複是一種測試：有歸納頭的模型會複製第一次出現之後的內容。",
        ],
        question: "文字裡重複出現的詞元，第二次的機率會比較高嗎？",
        choices: &["會，比較高", "不會，比較低"],
    },
    StepText {
        title: "8 · 困惑度",
        body: &[
            "把每個詞元在前文條件下的機率相乘，就得到整段文字的機率：這就是鏈式法則。",
            "困惑度是平均負對數機率的指數：那些機率幾何平均的倒數。",
            "圖中畫出它沿著你的文字變化。",
        ],
        question: "猜猜你的文字的困惑度。",
        choices: &["小於 10", "10 到 100", "大於 100"],
    },
    StepText {
        title: "9 · 位元與壓縮",
        body: &[
            "−log₂ p 是由模型驅動的理想編碼器花在一個詞元上的位元數。",
            "加總後除以位元組數，就是每位元組位元數，可以跨分詞器比較，也能和 gzip 比。",
            "預測得好就壓縮得好：兩者是同一個量（夏農）。",
        ],
        question: "模型需要的位元數，會少於純文字的每位元組 8 位元嗎？",
        choices: &["會，比較少", "不會，8 或更多"],
    },
    StepText {
        title: "10 · 一個頭貢獻了什麼",
        body: &[
            "注意力是詞元之間的溝通；MLP 是每個詞元內部的計算。",
            "兩者都把向量加進同一條殘差流，最後的 logit 就是它們各自份額的總和：直接 logit 歸因。",
            "網格依每個頭對最後一個詞元 logit 的份額上色；把一個頭剔除，就能看到它的總效果。",
        ],
        question: "哪一個對最後一個詞元的 logit 直接貢獻比較多？",
        choices: &["所有注意力頭合計", "所有 MLP 合計"],
    },
];
